package printing

import (
	"testing"
	"time"

	"madoguchi/app/receipt"
)

// BenchmarkRenderReceipt renders an issuance receipt (the longest: card
// and both certificates) per iteration and reports the time per receipt
// and the PDF's size. Goals: under 30 ms and under 100 KB.
//
//	go test -run '^$' -bench RenderReceipt -benchtime 50x ./printing
func BenchmarkRenderReceipt(b *testing.B) {
	msgs := bundle(b)
	rd := renderer(b)
	for _, tc := range []struct {
		name   string
		layout Layout
		lang   string
		copy   bool
	}{
		{"roll80-ja", Roll80, "ja", false},
		{"roll80-en", Roll80, "en", false},
		{"roll80-en-with-municipality-copy", Roll80, "en", true},
		{"a4-en", A4, "en", false},
	} {
		b.Run(tc.name, func(b *testing.B) {
			r := Compose(msgs, Sample(receipt.Issuance, tc.lang, testOrigin, testNow), Options{MunicipalityCopy: tc.copy})
			size := 0
			start := time.Now()
			for b.Loop() {
				out, err := rd.Render(r, tc.layout)
				if err != nil {
					b.Fatal(err)
				}
				size = len(out.Bytes)
			}
			b.ReportMetric(float64(time.Since(start).Microseconds())/1000/float64(b.N), "ms/op")
			b.ReportMetric(float64(size)/1024, "KB/pdf")
		})
	}
}

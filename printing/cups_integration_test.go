package printing

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"madoguchi/app/receipt"
	"madoguchi/printing/cupstest"
)

// TestCUPSIntegration prints through a real cupsd: a receipt reaches
// cups-pdf and becomes a PDF file; a paused queue, a printer CUPS cannot
// reach and a printer out of paper each give their problem, and no job is
// left behind.
func TestCUPSIntegration(t *testing.T) {
	srv := cupstest.Start(t)
	b := bundle(t)
	rd := renderer(t)
	c, err := NewCUPS(srv.URI, CUPSOptions{Poll: 100 * time.Millisecond, Grace: time.Second, Timeout: 6 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	doc := func(t *testing.T) (receipt.Document, string) {
		tok := make([]byte, 6)
		rand.Read(tok)
		token := "mdgtest" + hex.EncodeToString(tok)
		rec := Sample(receipt.Issuance, "en", testOrigin, testNow)
		out, err := rd.Render(Compose(b, rec, Options{}), Roll80)
		if err != nil {
			t.Fatal(err)
		}
		return receipt.Document{Name: token, PDF: out.Bytes, Media: out.Media}, token
	}

	t.Run("printed", func(t *testing.T) {
		d, token := doc(t)
		start := time.Now()
		res, err := c.Print(ctx, cupstest.Receipt, d)
		if err != nil || res.Problem != receipt.ProblemNone || res.JobID <= 0 {
			t.Fatalf("Print = %+v, %v\n%s", res, err, srv.Log())
		}
		t.Logf("job %d completed in %v", res.JobID, time.Since(start))
		path := srv.WaitPDF(t, res.JobID, token, 20*time.Second)
		data, err := os.ReadFile(path)
		if err != nil || !strings.HasPrefix(string(data), "%PDF") {
			t.Fatalf("cups-pdf output %s: %v", path, err)
		}
		// The job carried the roll's media: the page is 80 mm wide, not A4.
		if pdfinfo, err := exec.LookPath("pdfinfo"); err == nil {
			info, _ := exec.Command(pdfinfo, path).Output()
			if !strings.Contains(string(info), "Page size:       226") {
				t.Errorf("cups-pdf page is not 80 mm wide:\n%s", info)
			}
		}
	})

	t.Run("queue paused", func(t *testing.T) {
		srv.Admin(t, "cupsdisable", cupstest.Receipt)
		defer srv.Admin(t, "cupsenable", cupstest.Receipt)
		d, _ := doc(t)
		res, err := c.Print(ctx, cupstest.Receipt, d)
		if err != nil || res.Problem != receipt.ProblemStopped || res.JobID != 0 {
			t.Fatalf("Print = %+v, %v", res, err)
		}
	})

	t.Run("printer unreachable", func(t *testing.T) {
		d, _ := doc(t)
		res, err := c.Print(ctx, cupstest.Dead, d)
		if err != nil || res.Problem != receipt.ProblemOffline || res.JobID == 0 {
			t.Fatalf("Print = %+v, %v", res, err)
		}
		js, err := c.Job(ctx, res.JobID)
		if err != nil || js.State != "canceled" {
			t.Errorf("job after the problem: %+v, %v (want canceled)", js, err)
		}
	})

	t.Run("out of paper", func(t *testing.T) {
		d, _ := doc(t)
		res, err := c.Print(ctx, cupstest.NoPaper, d)
		if err != nil || res.Problem != receipt.ProblemNoPaper {
			t.Fatalf("Print = %+v, %v", res, err)
		}
		js, err := c.Job(ctx, res.JobID)
		if err != nil || js.State != "canceled" {
			t.Errorf("job after the problem: %+v, %v (want canceled)", js, err)
		}
		st, err := c.Printer(ctx, cupstest.NoPaper)
		if err != nil || st.Problem() != receipt.ProblemNoPaper {
			t.Errorf("printer: %v, %v", st, err)
		}
	})
}

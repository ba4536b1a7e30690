package report

import (
	"slices"
	"time"
)

// The handling-time histogram has fixed buckets, the same in every
// report, so that histograms from several terminals add up:
//
//	 0 s – 10 min   1 s wide     (buckets    0–599)
//	10 min – 1 h   10 s wide     (buckets  600–899)
//	 1 h – 8 h      1 min wide   (buckets  900–1319)
//	 8 h and more   one bucket   (bucket  1320)
//
// A percentile computed from a histogram is its bucket's midpoint: within
// 0.5 s of the nearest-rank value below 10 minutes, 5 s below an hour and
// 30 s below 8 hours; from 8 hours on it is reported as 8 hours.
const (
	fineEnd    = 10 * time.Minute
	fineW      = time.Second
	midEnd     = time.Hour
	midW       = 10 * time.Second
	coarseEnd  = 8 * time.Hour
	coarseW    = time.Minute
	fineN      = int(fineEnd / fineW)
	midN       = int((midEnd - fineEnd) / midW)
	coarseN    = int((coarseEnd - midEnd) / coarseW)
	overflowAt = fineN + midN + coarseN
	// NumBuckets is the number of histogram buckets.
	NumBuckets = overflowAt + 1
)

// Precision describes the histogram's buckets (as the CSV's meta row
// records it).
const Precision = "1s<10m,10s<1h,1m<8h,8h+"

// BucketOf returns the bucket of a handling time (a negative one counts
// as zero).
func BucketOf(d time.Duration) int {
	switch {
	case d < 0:
		return 0
	case d < fineEnd:
		return int(d / fineW)
	case d < midEnd:
		return fineN + int((d-fineEnd)/midW)
	case d < coarseEnd:
		return fineN + midN + int((d-midEnd)/coarseW)
	}
	return overflowAt
}

// Bucket returns bucket i's bounds [from, to); to is 0 for the last,
// unbounded one. ok is false for an index out of range.
func Bucket(i int) (from, to time.Duration, ok bool) {
	switch {
	case i < 0 || i > overflowAt:
		return 0, 0, false
	case i < fineN:
		from = time.Duration(i) * fineW
		return from, from + fineW, true
	case i < fineN+midN:
		from = fineEnd + time.Duration(i-fineN)*midW
		return from, from + midW, true
	case i < overflowAt:
		from = midEnd + time.Duration(i-fineN-midN)*coarseW
		return from, from + coarseW, true
	}
	return coarseEnd, 0, true
}

// histPercentiles returns the median and 90th percentile (nearest rank)
// of a histogram, each as its bucket's midpoint.
func histPercentiles(h map[int]int) (median, p90 time.Duration) {
	n := 0
	for _, c := range h {
		n += c
	}
	if n == 0 {
		return 0, 0
	}
	idx := slices.Sorted(func(yield func(int) bool) {
		for i, c := range h {
			if c > 0 && !yield(i) {
				return
			}
		}
	})
	at := func(num, den int) time.Duration {
		k, seen := rank(n, num, den), 0
		for _, i := range idx {
			if seen += h[i]; seen >= k {
				from, to, _ := Bucket(i)
				if to == 0 {
					return from
				}
				return from + (to-from)/2
			}
		}
		return 0
	}
	return at(1, 2), at(9, 10)
}

package main

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"
)

func sortedNames(d map[string]*series) []string {
	return slices.Sorted(maps.Keys(d))
}

// peer names a side-by-side benchmark: kind AppTokenHit, OBOTokenHit, or
// their Parallel forms.
func peer(kind string, n int, lib string) string {
	return fmt.Sprintf("%s/tokens=%d/lib=%s", kind, n, lib)
}

// chart draws ns/op against cached tokens (both log scales) for app and
// OBO hits, identityweb and MSAL Go: an SVG made from the data.
func chart(d map[string]*series) string {
	type line struct {
		label, prefix, color string
	}
	lines := []line{
		{"identityweb app", "AppTokenHit|identityweb", "#1f77b4"},
		{"MSAL Go app", "AppTokenHit|msal-go", "#d62728"},
		{"x/oauth2 app", "AppTokenHit|x-oauth2", "#7f7f7f"},
		{"identityweb OBO", "OBOTokenHit|identityweb", "#2ca02c"},
		{"MSAL Go OBO", "OBOTokenHit|msal-go", "#ff7f0e"},
	}
	sizes := []float64{1, 1000, 10000, 100000}
	const W, H, L, R, T, B = 680.0, 420.0, 70.0, 180.0, 30.0, 50.0
	x := func(n float64) float64 { return L + math.Log10(n)/5*(W-L-R) }
	y := func(ns float64) float64 { return H - B - (math.Log10(ns)-2)/6*(H-T-B) } // 100 ns .. 100 ms
	var s strings.Builder
	fmt.Fprintf(&s, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="12">`, W, H)
	s.WriteString(`<rect width="100%" height="100%" fill="white"/>`)
	fmt.Fprintf(&s, `<text x="%.0f" y="18" font-size="14">Token cache hit cost against cached tokens (log–log)</text>`, L)
	for _, v := range []float64{100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8} {
		fmt.Fprintf(&s, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#ddd"/><text x="%.1f" y="%.1f" text-anchor="end">%s</text>`,
			L, W-R, y(v), y(v), L-6, y(v)+4, time.Duration(v).String())
	}
	for _, n := range sizes {
		fmt.Fprintf(&s, `<text x="%.1f" y="%.1f" text-anchor="middle">%.0f</text>`, x(n), H-B+18, n)
	}
	fmt.Fprintf(&s, `<text x="%.1f" y="%.1f" text-anchor="middle">cached tokens (other callers or APIs)</text>`, (L+W-R)/2, H-12)
	for i, l := range lines {
		var pts []string
		for _, n := range sizes {
			kind, lib, _ := strings.Cut(l.prefix, "|")
			v := ns(d, peer(kind, int(n), lib))
			if v <= 0 {
				continue
			}
			v = math.Min(math.Max(v, 100), 1e8)
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(n), y(v)))
			fmt.Fprintf(&s, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`, x(n), y(v), l.color)
		}
		fmt.Fprintf(&s, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`, l.color, strings.Join(pts, " "))
		fmt.Fprintf(&s, `<rect x="%.1f" y="%.1f" width="12" height="3" fill="%s"/><text x="%.1f" y="%.1f">%s</text>`,
			W-R+15, T+20+float64(i)*18, l.color, W-R+32, T+25+float64(i)*18, l.label)
	}
	s.WriteString(`</svg>`)
	return s.String()
}

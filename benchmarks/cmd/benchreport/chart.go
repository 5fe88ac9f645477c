package main

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
)

func sortedNames(d map[string]*series) []string {
	return slices.Sorted(maps.Keys(d))
}

// chart draws ns/op against cached tokens (both log scales) for app and
// OBO hits, identityweb and MSAL Go: an SVG made from the data.
func chart(d map[string]*series) string {
	type line struct {
		label, prefix, color string
	}
	lines := []line{
		{"identityweb app", "AppTokenHit/identityweb/", "#1f77b4"},
		{"MSAL Go app", "AppTokenHit/msal-go/", "#d62728"},
		{"identityweb OBO", "OBOTokenHit/identityweb/", "#2ca02c"},
		{"MSAL Go OBO", "OBOTokenHit/msal-go/", "#ff7f0e"},
	}
	sizes := []float64{1, 100, 1000}
	const W, H, L, R, T, B = 640.0, 400.0, 70.0, 180.0, 30.0, 50.0
	x := func(n float64) float64 { return L + math.Log10(n)/3*(W-L-R) }
	y := func(ns float64) float64 { return H - B - (math.Log10(ns)-2)/3*(H-T-B) } // 100 ns .. 100 µs
	var s strings.Builder
	fmt.Fprintf(&s, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="12">`, W, H)
	s.WriteString(`<rect width="100%" height="100%" fill="white"/>`)
	fmt.Fprintf(&s, `<text x="%.0f" y="18" font-size="14">Token cache hit cost against cached tokens (log–log)</text>`, L)
	for _, v := range []float64{100, 1000, 10000, 100000} {
		fmt.Fprintf(&s, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#ddd"/><text x="%.1f" y="%.1f" text-anchor="end">%s</text>`,
			L, W-R, y(v), y(v), L-6, y(v)+4, map[float64]string{100: "100 ns", 1000: "1 µs", 10000: "10 µs", 100000: "100 µs"}[v])
	}
	for _, n := range sizes {
		fmt.Fprintf(&s, `<text x="%.1f" y="%.1f" text-anchor="middle">%.0f</text>`, x(n), H-B+18, n)
	}
	fmt.Fprintf(&s, `<text x="%.1f" y="%.1f" text-anchor="middle">cached tokens (other callers or APIs)</text>`, (L+W-R)/2, H-12)
	for i, l := range lines {
		var pts []string
		for _, n := range sizes {
			v := ns(d, l.prefix+fmt.Sprint(n))
			if v <= 0 {
				continue
			}
			v = math.Min(math.Max(v, 100), 100000)
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

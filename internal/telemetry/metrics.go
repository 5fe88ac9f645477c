package telemetry

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/identityweb/go-identityweb/internal/cachekey"
)

// Metric names. Attributes: kind (app, obo, user, long_running), source
// (cache, identity_provider), cache_level (l1, l2, none), grant, outcome.
// No attribute ever holds a token, a user or a session.
const (
	Acquisitions    = "identityweb.token.acquisitions"
	Duration        = "identityweb.token.duration"
	IdPRequests     = "identityweb.idp.requests"
	RefreshFailures = "identityweb.token.background_refresh.failures"
)

// Sources and Levels name the token sources and cache levels by their
// numbers in the facade (TokenSource, CacheLevel).
var (
	Sources = [2]string{"identity_provider", "cache"}
	Levels  = [3]string{"none", "l1", "l2"}
)

var kinds = [...]cachekey.Kind{cachekey.App, cachekey.OBO, cachekey.User, cachekey.LongRunning}

func kindIndex(kind cachekey.Kind) int {
	switch kind {
	case cachekey.OBO:
		return 1
	case cachekey.User:
		return 2
	case cachekey.LongRunning:
		return 3
	}
	return 0
}

// Metrics records the library's OpenTelemetry instruments.
type Metrics struct {
	acquisitions metric.Int64Counter
	duration     metric.Float64Histogram
	idp          metric.Int64Counter
	refreshFail  metric.Int64Counter
	// Attribute options precomputed for every kind × source × level, so that
	// recording a cache hit allocates nothing.
	acqOpts [4][2][3][]metric.AddOption
	durOpts [4][2][]metric.RecordOption
	bgOpts  [4][]metric.AddOption
	// on: a MeterProvider was given (a hit records nothing otherwise).
	on bool
}

// New creates the instruments on mp (a no-op provider when nil).
func New(mp metric.MeterProvider, scope string) *Metrics {
	m := &Metrics{on: mp != nil}
	if mp == nil {
		mp = noop.NewMeterProvider()
	}
	meter := mp.Meter(scope)
	m.acquisitions, _ = meter.Int64Counter(Acquisitions, metric.WithDescription("Token acquisitions by kind, source and cache level."))
	m.duration, _ = meter.Float64Histogram(Duration, metric.WithUnit("s"), metric.WithDescription("Total time of a token acquisition."))
	m.idp, _ = meter.Int64Counter(IdPRequests, metric.WithDescription("Requests to the identity provider's token endpoint by grant and outcome."))
	m.refreshFail, _ = meter.Int64Counter(RefreshFailures, metric.WithDescription("Failed proactive background refreshes."))
	if m.acquisitions == nil || m.duration == nil || m.idp == nil || m.refreshFail == nil {
		noopMeter := noop.NewMeterProvider().Meter("")
		m.acquisitions, _ = noopMeter.Int64Counter(Acquisitions)
		m.duration, _ = noopMeter.Float64Histogram(Duration)
		m.idp, _ = noopMeter.Int64Counter(IdPRequests)
		m.refreshFail, _ = noopMeter.Int64Counter(RefreshFailures)
	}
	for k, kind := range kinds {
		kn := kind.String()
		for s, src := range Sources {
			for l, lvl := range Levels {
				m.acqOpts[k][s][l] = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(
					attribute.String("kind", kn), attribute.String("source", src), attribute.String("cache_level", lvl)))}
			}
			m.durOpts[k][s] = []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(
				attribute.String("kind", kn), attribute.String("source", src)))}
		}
		m.bgOpts[k] = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attribute.String("kind", kn)))}
	}
	return m
}

// Acquired records one acquisition; src indexes Sources, level Levels.
func (m *Metrics) Acquired(ctx context.Context, kind cachekey.Kind, src, level uint8, total time.Duration) {
	if !m.on {
		return
	}
	k := kindIndex(kind)
	m.acquisitions.Add(ctx, 1, m.acqOpts[k][src][level]...)
	m.duration.Record(ctx, total.Seconds(), m.durOpts[k][src]...)
}

// IdPRequest records one request to the token endpoint.
func (m *Metrics) IdPRequest(ctx context.Context, grant, outcome string) {
	m.idp.Add(ctx, 1, metric.WithAttributes(attribute.String("grant", grant), attribute.String("outcome", outcome)))
}

// BackgroundFailure records one failed proactive refresh.
func (m *Metrics) BackgroundFailure(ctx context.Context, kind cachekey.Kind) {
	m.refreshFail.Add(ctx, 1, m.bgOpts[kindIndex(kind)]...)
}

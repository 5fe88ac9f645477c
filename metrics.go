package identityweb

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
)

// Metric names. Attributes: kind (app, obo, user, long_running), source
// (cache, identity_provider), cache_level (l1, l2, none), grant, outcome.
// No attribute ever holds a token, a user or a session.
const (
	MetricAcquisitions    = "identityweb.token.acquisitions"
	MetricDuration        = "identityweb.token.duration"
	MetricIdPRequests     = "identityweb.idp.requests"
	MetricRefreshFailures = "identityweb.token.background_refresh.failures"
)

var kindNames = [...]string{"app", "obo", "user", "long_running"}

func kindIndex(kind byte) int {
	switch kind {
	case kindOBO:
		return 1
	case kindUser:
		return 2
	case kindLongRunning:
		return 3
	}
	return 0
}

type metrics struct {
	acquisitions metric.Int64Counter
	duration     metric.Float64Histogram
	idp          metric.Int64Counter
	refreshFail  metric.Int64Counter
	// Attribute options precomputed for every kind × source × level, so that
	// recording a cache hit allocates nothing.
	acqOpts [4][2][3][]metric.AddOption
	durOpts [4][2][]metric.RecordOption
	bgOpts  [4][]metric.AddOption
}

func newMetrics(mp metric.MeterProvider) *metrics {
	if mp == nil {
		mp = noop.NewMeterProvider()
	}
	meter := mp.Meter("github.com/go-identityweb/identityweb")
	m := &metrics{}
	m.acquisitions, _ = meter.Int64Counter(MetricAcquisitions, metric.WithDescription("Token acquisitions by kind, source and cache level."))
	m.duration, _ = meter.Float64Histogram(MetricDuration, metric.WithUnit("s"), metric.WithDescription("Total time of a token acquisition."))
	m.idp, _ = meter.Int64Counter(MetricIdPRequests, metric.WithDescription("Requests to the identity provider's token endpoint by grant and outcome."))
	m.refreshFail, _ = meter.Int64Counter(MetricRefreshFailures, metric.WithDescription("Failed proactive background refreshes."))
	if m.acquisitions == nil || m.duration == nil || m.idp == nil || m.refreshFail == nil {
		noopMeter := noop.NewMeterProvider().Meter("")
		m.acquisitions, _ = noopMeter.Int64Counter(MetricAcquisitions)
		m.duration, _ = noopMeter.Float64Histogram(MetricDuration)
		m.idp, _ = noopMeter.Int64Counter(MetricIdPRequests)
		m.refreshFail, _ = noopMeter.Int64Counter(MetricRefreshFailures)
	}
	for k, kn := range kindNames {
		for s := 0; s < 2; s++ {
			src := TokenSource(s).String()
			for l := 0; l < 3; l++ {
				m.acqOpts[k][s][l] = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(
					attribute.String("kind", kn), attribute.String("source", src), attribute.String("cache_level", CacheLevel(l).String())))}
			}
			m.durOpts[k][s] = []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(
				attribute.String("kind", kn), attribute.String("source", src)))}
		}
		m.bgOpts[k] = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attribute.String("kind", kn)))}
	}
	return m
}

func (m *metrics) acquired(ctx context.Context, kind byte, src TokenSource, level CacheLevel, total time.Duration) {
	k := kindIndex(kind)
	m.acquisitions.Add(ctx, 1, m.acqOpts[k][src][level]...)
	m.duration.Record(ctx, total.Seconds(), m.durOpts[k][src]...)
}

func (m *metrics) idpRequest(ctx context.Context, grant, outcome string) {
	m.idp.Add(ctx, 1, metric.WithAttributes(attribute.String("grant", grant), attribute.String("outcome", outcome)))
}

func (m *metrics) backgroundFailure(ctx context.Context, kind byte) {
	m.refreshFail.Add(ctx, 1, m.bgOpts[kindIndex(kind)]...)
}

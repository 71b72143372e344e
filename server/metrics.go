package server

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cuecard/cuecard/cluster"
)

// PoolStats is implemented by recognizers with a shared pool (the
// embedded PocketSphinx): how many decoders there are and how many are busy.
type PoolStats interface {
	Size() int
	Busy() int
}

type metrics struct {
	reg          *prometheus.Registry
	sessions     prometheus.Gauge
	viewers      prometheus.Gauge
	framesIn     prometheus.Counter
	framesDrop   prometheus.Counter
	evictions    prometheus.Counter
	events       prometheus.Counter
	persistDrop  prometheus.Counter
	cueLatency   prometheus.Histogram
	streamErrors *prometheus.CounterVec
	relayed      prometheus.Counter
	takeovers    prometheus.Counter
	audioLost    prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.sessions = prometheus.NewGauge(prometheus.GaugeOpts{Name: "cuecard_live_sessions", Help: "Live sessions."})
	m.viewers = prometheus.NewGauge(prometheus.GaugeOpts{Name: "cuecard_viewers", Help: "Sockets and data channels receiving live events."})
	m.framesIn = prometheus.NewCounter(prometheus.CounterOpts{Name: "cuecard_audio_frames_total", Help: "Audio frames received."})
	m.framesDrop = prometheus.NewCounter(prometheus.CounterOpts{Name: "cuecard_audio_frames_dropped_total", Help: "Audio frames dropped because a session fell behind."})
	m.evictions = prometheus.NewCounter(prometheus.CounterOpts{Name: "cuecard_slow_subscribers_dropped_total", Help: "Event subscribers dropped for not keeping up."})
	m.events = prometheus.NewCounter(prometheus.CounterOpts{Name: "cuecard_events_total", Help: "Events produced by live sessions."})
	m.persistDrop = prometheus.NewCounter(prometheus.CounterOpts{Name: "cuecard_events_unstored_total", Help: "Events of live sessions not stored because the store fell behind by more than PersistBacklog."})
	m.cueLatency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "cuecard_cue_latency_seconds",
		Help:    "Wall-clock time from receiving the end of the utterance that triggered a cue to publishing the cue.",
		Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2, 5},
	})
	m.streamErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cuecard_stream_errors_total", Help: "Audio streams closed for bad input, by reason."}, []string{"reason"})
	m.relayed = prometheus.NewCounter(prometheus.CounterOpts{Name: "cuecard_cluster_relayed_total", Help: "Requests relayed to the node that runs their session."})
	m.takeovers = prometheus.NewCounter(prometheus.CounterOpts{Name: "cuecard_cluster_takeovers_total", Help: "Sessions resumed here after the node that ran them died."})
	m.audioLost = prometheus.NewCounter(prometheus.CounterOpts{Name: "cuecard_cluster_audio_lost_seconds_total", Help: "Audio lost when sessions moved between nodes."})
	m.reg.MustRegister(m.relayed, m.takeovers, m.audioLost)
	m.reg.MustRegister(m.sessions, m.viewers, m.framesIn, m.framesDrop, m.evictions, m.events, m.persistDrop, m.cueLatency, m.streamErrors,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// registerRecognizer exports the recognizer pool's state and the speech
// segments of live sessions waiting for a recognizer.
func (m *metrics) registerRecognizer(s *Server) {
	if p, ok := s.tr.(PoolStats); ok {
		m.reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "cuecard_recognizers", Help: "Recognizers in the shared pool."}, func() float64 { return float64(p.Size()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "cuecard_recognizers_busy", Help: "Recognizers decoding a speech segment."}, func() float64 { return float64(p.Busy()) }),
		)
	}
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "cuecard_recognizer_queue", Help: "Speech segments of live sessions waiting for a recognizer."},
		func() float64 {
			s.mu.Lock()
			defer s.mu.Unlock()
			n := 0
			for _, ls := range s.live {
				n += ls.call.Waiting()
			}
			return float64(n)
		}))
}

// registerCluster exports the cluster node's counters.
func (m *metrics) registerCluster(cl Cluster) {
	for _, c := range []struct {
		name, help string
		get        func(cluster.Stats) uint64
	}{
		{"cuecard_cluster_events_published_total", "Events published to other nodes.", func(s cluster.Stats) uint64 { return s.Published }},
		{"cuecard_cluster_events_dropped_total", "Events not published to other nodes (NATS slow or away).", func(s cluster.Stats) uint64 { return s.Dropped }},
		{"cuecard_cluster_slow_consumers_total", "Subscriptions to other nodes' events that fell behind.", func(s cluster.Stats) uint64 { return s.SlowConsumers }},
		{"cuecard_cluster_reconnects_total", "Reconnections to NATS.", func(s cluster.Stats) uint64 { return s.Reconnects }},
	} {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: c.name, Help: c.help},
			func() float64 { return float64(c.get(cl.Stats())) }))
	}
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// MetricsHandler serves the Prometheus metrics, for a listener of their
// own (Config.MetricsAddr); without one, GET /metrics on the API needs an
// administrator's token.
func (s *Server) MetricsHandler() http.Handler { return s.metrics.handler() }

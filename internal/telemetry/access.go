package telemetry

import (
	"context"
	"log/slog"
	"time"
)

// AccessEntry is one request as written to the access log.
type AccessEntry struct {
	Start      time.Time
	Listener   string
	Route      string
	Method     string
	Path       string
	Proto      string
	Status     int
	Duration   time.Duration
	BytesIn    int64
	BytesOut   int64
	Upstream   string
	RemoteAddr string
	// Client identity; empty when no certificate was presented.
	Subject     string
	SANs        []string
	Serial      string
	Fingerprint string
	// Reason explains a refusal or an upstream failure ("" on success).
	Reason string
	// InsecureUpstream marks requests sent to an upstream whose certificate
	// is not verified (insecure_skip_verify).
	InsecureUpstream bool
	StrippedHeaders  int
}

// AccessLog writes one structured line per request. A nil *AccessLog
// discards entries. Safe for concurrent use.
type AccessLog struct {
	log *slog.Logger
}

// NewAccessLog returns an access log writing through l.
func NewAccessLog(l *slog.Logger) *AccessLog { return &AccessLog{log: l} }

// Write logs e at info level with a fixed set of keys.
func (a *AccessLog) Write(ctx context.Context, e *AccessEntry) {
	if a == nil {
		return
	}
	attrs := make([]slog.Attr, 0, 20)
	attrs = append(attrs,
		slog.Time("start", e.Start.UTC()),
		slog.String("listener", e.Listener),
		slog.String("route", e.Route),
		slog.String("method", e.Method),
		slog.String("path", e.Path),
		slog.String("proto", e.Proto),
		slog.Int("status", e.Status),
		slog.Float64("duration_ms", float64(e.Duration.Microseconds())/1000),
		slog.Int64("bytes_in", e.BytesIn),
		slog.Int64("bytes_out", e.BytesOut),
		slog.String("remote", e.RemoteAddr),
	)
	if e.Upstream != "" {
		attrs = append(attrs, slog.String("upstream", e.Upstream))
	}
	if e.Subject != "" || e.Fingerprint != "" {
		attrs = append(attrs, slog.Group("client",
			slog.String("subject", e.Subject),
			slog.Any("sans", e.SANs),
			slog.String("serial", e.Serial),
			slog.String("fingerprint_sha256", e.Fingerprint),
		))
	}
	if e.Reason != "" {
		attrs = append(attrs, slog.String("reason", e.Reason))
	}
	if e.InsecureUpstream {
		attrs = append(attrs, slog.Bool("insecure_upstream", true))
	}
	if e.StrippedHeaders > 0 {
		attrs = append(attrs, slog.Int("stripped_identity_headers", e.StrippedHeaders))
	}
	a.log.LogAttrs(ctx, slog.LevelInfo, "access", attrs...)
}

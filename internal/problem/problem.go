// Package problem writes RFC 9457 "application/problem+json" error
// responses. Every error the gateway answers itself (401, 403, 404, 405, 421,
// 502, 504, …) goes through Write, so clients always get the same shape.
package problem

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// Details is an RFC 9457 problem document with mtlsgate's extension members.
type Details struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	// Instance is the request path the problem is about.
	Instance string `json:"instance,omitempty"`
	// Route names the matched route, when there was one.
	Route string `json:"route,omitempty"`
	// Identity describes the client certificate that was seen (403 only).
	Identity *Identity `json:"identity,omitempty"`
	// Reason is a short machine-readable code ("client_cert_required",
	// "not_allowed", "upstream_unavailable", …).
	Reason string `json:"reason,omitempty"`
}

// Identity is the part of a client identity a 403 may show the client: what
// the gateway saw, never the policy it was compared against.
type Identity struct {
	Subject string   `json:"subject"`
	SANs    []string `json:"sans,omitempty"`
	Serial  string   `json:"serial,omitempty"`
}

// ReasonRecorder is a ResponseWriter that keeps the reason of a problem
// written to it (for the access log), whichever code wrote the problem.
type ReasonRecorder interface {
	RecordReason(reason string)
}

// Write sends d with its status. Title defaults to the status text and Type
// to "about:blank" as RFC 9457 §4.2 describes. A ReasonRecorder learns
// d.Reason.
func Write(w http.ResponseWriter, d Details) {
	if rr, ok := w.(ReasonRecorder); ok && d.Reason != "" {
		rr.RecordReason(d.Reason)
	}
	if d.Title == "" {
		d.Title = http.StatusText(d.Status)
	}
	if d.Type == "" {
		d.Type = "about:blank"
	}
	body, err := json.Marshal(d)
	if err != nil {
		// Details holds only strings and ints; Marshal cannot fail. Keep
		// a valid body anyway.
		body = []byte(`{"type":"about:blank","status":` + strconv.Itoa(d.Status) + `}`)
	}
	body = append(body, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(d.Status)
	_, _ = w.Write(body)
}

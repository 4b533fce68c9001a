package stats

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"
)

// Handler serves Snapshot as JSON for GET (and HEAD) requests:
//
//	GET /api/stats?window=1h&route=orders&identity=CN%3Dalice&limit=10
//
// Parameters (all optional, each at most once, no others):
//
//	window    Go duration (15m, 1h30m), > 0 and ≤ Retention; default 1h
//	route     only this route
//	identity  only this identity
//	limit     identities per route, 1..10000; default 100
//
// A bad parameter is answered 400 with an RFC 9457 problem document naming
// it in "parameter"; another method 405 with Allow. The report lists client
// identities: serve it only where the admin API is protected.
func (s *Stats) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeProblem(w, problem{Status: http.StatusMethodNotAllowed, Reason: "method_not_allowed",
				Detail: r.Method + " is not supported; use GET"})
			return
		}
		q, perr := s.parseQuery(r.URL.RawQuery)
		if perr != nil {
			writeProblem(w, problem{Status: http.StatusBadRequest, Reason: "invalid_parameter",
				Detail: perr.Detail, Parameter: perr.Parameter})
			return
		}
		body, err := json.Marshal(s.Snapshot(q))
		if err != nil {
			writeProblem(w, problem{Status: http.StatusInternalServerError, Detail: "encoding the report failed"})
			return
		}
		body = append(body, '\n')
		writeJSON(w, http.StatusOK, "application/json", body)
	})
}

// paramError is a query parameter Handler refuses.
type paramError struct {
	Parameter string
	Detail    string
}

// parseQuery reads Handler's parameters from a raw query string.
func (s *Stats) parseQuery(raw string) (Query, *paramError) {
	q := Query{Window: min(DefaultWindow, time.Duration(s.retention)), Limit: DefaultLimit}
	vals, err := url.ParseQuery(raw)
	if err != nil {
		return q, &paramError{Parameter: "query", Detail: "the query string is malformed: " + err.Error()}
	}
	names := make([]string, 0, len(vals))
	for name := range vals {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		switch name {
		case "window", "route", "identity", "limit":
		case "":
			return q, &paramError{Parameter: "query", Detail: "the query string has a parameter without a name"}
		default:
			return q, &paramError{Parameter: name, Detail: "unknown parameter " + quote(name) + "; use window, route, identity or limit"}
		}
		if len(vals[name]) > 1 {
			return q, &paramError{Parameter: name, Detail: name + " is given more than once"}
		}
	}
	if v, ok := vals["window"]; ok {
		d, err := time.ParseDuration(v[0])
		if err != nil || d <= 0 || d > time.Duration(s.retention) {
			return q, &paramError{Parameter: "window", Detail: "window " + quote(v[0]) +
				" must be a Go duration such as 15m or 1h, greater than 0 and at most " + time.Duration(s.retention).String()}
		}
		q.Window = d
	}
	if v, ok := vals["limit"]; ok {
		n, err := strconv.Atoi(v[0])
		if err != nil || n < 1 || n > MaxLimit {
			return q, &paramError{Parameter: "limit", Detail: "limit " + quote(v[0]) + " must be an integer from 1 to " + strconv.Itoa(MaxLimit)}
		}
		q.Limit = n
	}
	if v, ok := vals["route"]; ok {
		q.Route = v[0]
	}
	if v, ok := vals["identity"]; ok {
		q.Identity = v[0]
	}
	return q, nil
}

// quote quotes a user-supplied value for an error message, cut to 64 bytes.
func quote(v string) string {
	if len(v) > 64 {
		v = v[:64] + "…"
	}
	return strconv.Quote(v)
}

// problem is an RFC 9457 problem document, shaped like the gateway's own
// (internal/problem) plus the offending parameter.
type problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail,omitempty"`
	Reason    string `json:"reason,omitempty"`
	Parameter string `json:"parameter,omitempty"`
}

func writeProblem(w http.ResponseWriter, p problem) {
	p.Type, p.Title = "about:blank", http.StatusText(p.Status)
	body, err := json.Marshal(p)
	if err != nil {
		body = []byte(`{"type":"about:blank","status":` + strconv.Itoa(p.Status) + `}`)
	}
	writeJSON(w, p.Status, "application/problem+json", append(body, '\n'))
}

func writeJSON(w http.ResponseWriter, status int, ctype string, body []byte) {
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

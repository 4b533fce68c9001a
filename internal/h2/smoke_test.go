package h2

import (
	"io"
	"net/http"
	"testing"
)

func TestSmoke(t *testing.T) {
	checkGoroutines(t)
	srv := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "hello "+r.URL.Path+" "+r.Proto)
	})}
	ts := startServer(t, srv, false)
	for _, cl := range []*http.Client{ts.client(), ts.stdClient()} {
		for range 3 {
			resp, err := cl.Get(ts.url("/x"))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			t.Logf("%s %v %q %v", resp.Proto, resp.StatusCode, b, resp.Header)
		}
	}
	rc := newRaw(t, &Server{Handler: srv.Handler})
	rc.get(1)
	st, body := rc.response(1)
	t.Log(st, body)
}

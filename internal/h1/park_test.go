//go:build linux

package h1

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"
)

// TestParkAfterShutdownSweep replays an interleaving of a
// connection's goroutine and Shutdown: next() saw the connection idle
// after its grace and returned waitHandoff; before loop() called
// park.park, Shutdown's closeIdle claimed it (CAS csIdle -> csClosing,
// deadline moved, unpark found nothing parked). park does not look at the
// state, so the connection is parked although it is csClosing: closeIdle
// never CASes it again, so nothing wakes it but client data or its
// IdleTimeout, and Shutdown (a reload's drain) waits that long.
func TestParkAfterShutdownSweep(t *testing.T) {
	srv := &Server{IdleGrace: time.Millisecond, IdleTimeout: time.Minute, Handler: &recorder{}}
	sc := loopbackConn(t)
	c := srv.newConn(sc)
	if !srv.track(c) {
		t.Fatal("not tracked")
	}
	// The connection's goroutine: idle, grace expired, about to park.
	c.idleDeadline = time.Now().Add(srv.IdleTimeout)
	c.state.Store(csIdle)
	// Shutdown's first sweep runs now.
	srv.inShutdown.Store(true)
	srv.closeIdle()
	// The goroutine goes on and parks the connection.
	if !srv.park.park(c) {
		go c.resume() // what loop does when park refuses: the connection ends
	}
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v (a connection parked after Shutdown claimed it is only woken at IdleTimeout)", err)
	}
}

// TestParkExpiryHeapBounded: a connection woken by readiness leaves its
// expiry entry in the heap; run only drops such entries from the top. With
// one connection parked idle (its live entry is the oldest), every entry a
// busy keep-alive connection leaves behind (one per request that comes a
// little more than IdleGrace after the last) stays until that idle one
// expires or wakes: the heap holds (requests per IdleTimeout) entries, not
// (parked connections).
func TestParkExpiryHeapBounded(t *testing.T) {
	srv := &Server{
		IdleGrace:   time.Millisecond,
		IdleTimeout: time.Minute,
		Handler:     http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }),
	}
	ts := startServer(t, srv, nil)
	idle := ts.dial()
	idle.SetDeadline(time.Now().Add(20 * time.Second))
	getBody(t, idle, bufio.NewReader(idle), "/") // then parked and left idle
	time.Sleep(10 * time.Millisecond)
	c := ts.dial()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(c)
	const n = 200
	for i := 0; i < n; i++ {
		getBody(t, c, br, "/")
		time.Sleep(4 * time.Millisecond) // past the grace: parked
	}
	srv.park.mu.Lock()
	entries, parked := len(srv.park.expiry), len(srv.park.parked)
	srv.park.mu.Unlock()
	t.Logf("%d requests on a busy connection: %d expiry entries, %d parked", n, entries, parked)
	if entries > 4*(parked+1) {
		t.Errorf("expiry heap holds %d entries for %d parked connection(s): stale entries stay until IdleTimeout", entries, parked)
	}
}

// TestParkerInitRace: parker.unpark (Shutdown's closeIdle) and
// parker.close (Close) read p.ok without synchronisation while the first
// park of another connection may be writing it in init. Fails under -race.
func TestParkerInitRace(t *testing.T) {
	srv := &Server{}
	sc := loopbackConn(t)
	c := srv.newConn(sc)
	other := srv.newConn(sc)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); srv.park.park(c) }()
	go func() { defer wg.Done(); srv.park.unpark(other) }()
	wg.Wait()
	srv.park.mu.Lock()
	srv.park.takeLocked(c.parkID)
	srv.park.mu.Unlock()
	srv.park.close()
}

// TestParkDropsWatchTimer: a parked connection holds no disconnect-watch
// timer (armWatch makes one again when the next request's handler runs),
// and the watch still cancels a handler whose client leaves after that.
func TestParkDropsWatchTimer(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the parker is Linux-only")
	}
	gone := make(chan error, 1)
	srv := &Server{
		IdleGrace:            5 * time.Millisecond,
		IdleTimeout:          time.Minute,
		DisconnectCheckDelay: time.Millisecond,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/wait" {
				select {
				case <-r.Context().Done():
					gone <- context.Cause(r.Context())
				case <-time.After(5 * time.Second):
					gone <- nil
				}
				return
			}
			time.Sleep(20 * time.Millisecond) // the watch's read starts
			io.WriteString(w, "ok")
		}),
	}
	ts := startServer(t, srv, nil)
	c := ts.dial()
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	getBody(t, c, bufio.NewReader(c), "/")
	parked := func() *conn {
		if !srv.park.ok.Load() {
			return nil // parker not started yet (parked is made by init)
		}
		srv.park.mu.Lock()
		defer srv.park.mu.Unlock()
		return parked0(srv)
	}
	waitFor(t, "the connection parked", func() bool { return parked() != nil })
	srv.park.mu.Lock()
	pc := parked0(srv)
	timer, done := pc.bgTimer, pc.bgDone
	srv.park.mu.Unlock()
	if timer != nil || done != nil {
		t.Fatal("a parked connection kept its disconnect-watch timer")
	}
	io.WriteString(c, "GET /wait HTTP/1.1\r\nHost: a\r\n\r\n")
	time.Sleep(50 * time.Millisecond)
	c.Close()
	if err := <-gone; err != ErrClientGone {
		t.Fatalf("handler context after the client left: cause %v, want ErrClientGone", err)
	}
}

// parked0 returns a parked connection; srv.park.mu is held.
func parked0(srv *Server) *conn {
	for _, pc := range srv.park.parked {
		return pc
	}
	return nil
}

// pausedWatch makes a connection whose watch timer exists and is idle,
// and starts a call of its watch function that pauses right after it
// cleared bgPending between requests (testWatchTail). It returns the
// connection, a function that resumes the call, and where the call
// reports "ok" or its panic.
func pausedWatch(t *testing.T) (c *conn, resume func(), res <-chan string) {
	c = &conn{s: &Server{DisconnectCheckDelay: time.Hour}, heapIdx: -1}
	c.reqStart = time.Now()
	c.armWatch()
	c.stopWatch()
	timer := c.bgTimer
	t.Cleanup(func() { timer.Stop() })
	paused, resumed := make(chan struct{}), make(chan struct{})
	var once sync.Once
	hook := func(wc *conn) {
		if wc == c {
			once.Do(func() { close(paused); <-resumed })
		}
	}
	testWatchTail.Store(&hook)
	t.Cleanup(func() { testWatchTail.Store(nil) })
	out := make(chan string, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				out <- fmt.Sprint("watch panicked: ", p)
			}
		}()
		c.watch()
		out <- "ok"
	}()
	<-paused
	return c, func() { close(resumed) }, out
}

// TestDropWatchWhileWatchFinishes: the watch function cleared bgPending
// between requests and is preempted; the connection parks (dropWatch) and
// resumes, and its next handler arms the watch, which the still-running
// function takes over. It must find its timer and channel (a nil timer
// crashed the process, a nil channel hung stopWatch).
func TestDropWatchWhileWatchFinishes(t *testing.T) {
	c, resume, res := pausedWatch(t)
	c.dropWatch()
	c.reqStart = time.Now()
	c.bgStart.Store(int64(c.reqStart.Sub(epoch)))
	c.bgState.Store(bgArmed) // what armWatch does first for the next request
	resume()
	if r := <-res; r != "ok" {
		t.Fatal(r)
	}
	if c.bgTimer == nil {
		t.Fatal("the timer was dropped while its function ran")
	}
}

// TestDropWatchOverlappingWatch: two calls of the watch function overlap
// (the first reset the timer for a newer handler and the timer fired
// again before it returned). The first one returning must not make
// dropWatch think none is running while the second still is.
func TestDropWatchOverlappingWatch(t *testing.T) {
	c, resume, res := pausedWatch(t) // the second call, between requests
	timer := c.bgTimer
	// The first call ends on its Reset(left) path while the second runs.
	c.bgPending.Store(true)
	c.bgStart.Store(monoNow())
	c.bgState.Store(bgArmed)
	c.watch()
	timer.Stop()
	c.bgState.Store(bgOff)
	c.bgPending.Store(false)
	c.dropWatch() // the connection parks
	c.bgStart.Store(monoNow())
	c.bgState.Store(bgArmed) // the next request's armWatch, before its CAS
	resume()
	if r := <-res; r != "ok" {
		t.Fatal(r)
	}
}

// loopbackConn returns the server side of a loopback TCP connection whose
// client side stays open (both are closed at the end of the test).
func loopbackConn(t *testing.T) net.Conn {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cli, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	sc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sc.Close() })
	return sc
}

//go:build linux

package h1

import (
	"container/heap"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// parker holds idle connections without a goroutine each. A connection
// idle for IdleGrace is registered (EPOLLIN|EPOLLRDHUP, one-shot) in an
// epoll instance of the server's; one goroutine waits on that instance
// through Go's poller, and when a parked connection becomes readable, or
// its idle deadline passes, it hands the connection back to a new
// goroutine (conn.resume), which reads, or times out and closes, as an
// unparked wait would. Ten thousand idle connections then cost one
// goroutine instead of ten thousand 2 KiB stacks.
//
// The epoll registration is level-triggered: data that arrived before the
// connection was registered wakes it at once. A registration is never
// deleted by file descriptor number (the number could belong to another
// connection by then): it is one-shot, re-armed with EPOLL_CTL_MOD when
// the same connection parks again, and the kernel drops it when the
// socket is closed.
type parker struct {
	once    sync.Once
	ok      atomic.Bool // init succeeded (set once, inside once)
	epfd    int
	f       *os.File // epfd, waited on through Go's poller
	rc      syscall.RawConn
	mu      sync.Mutex
	parked  map[uint32]*conn
	expiry  expiryHeap // parked connections with an idle deadline
	nextID  uint32
	waitDL  time.Time // the deadline the waiting goroutine was given
	closed  bool
	events  [128]syscall.EpollEvent
	stopped chan struct{}
}

func (p *parker) init() bool {
	p.once.Do(func() {
		fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err != nil {
			return
		}
		if syscall.SetNonblock(fd, true) != nil {
			syscall.Close(fd)
			return
		}
		p.epfd = fd
		p.f = os.NewFile(uintptr(fd), "h1-parker")
		rc, err := p.f.SyscallConn()
		if err != nil {
			p.f.Close()
			return
		}
		p.rc = rc
		p.parked = make(map[uint32]*conn)
		p.stopped = make(chan struct{})
		p.ok.Store(true)
		go p.run()
	})
	return p.ok.Load()
}

// park registers c, whose goroutine is about to end. False means it could
// not be parked (no socket, or the server is closing): the caller resumes
// c on a goroutine instead.
func (p *parker) park(c *conn) bool {
	sc, ok := c.rawConn().(syscall.Conn)
	if !ok || !p.init() {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	// Shutdown's closeIdle may have claimed the connection (csIdle ->
	// csClosing) after it decided to park and before this lock: then it
	// found nothing to unpark, and only a goroutine (the caller's
	// fallback, conn.resume) will end it.
	if p.closed || c.state.Load() != csIdle {
		return false
	}
	p.nextID++
	id := p.nextID
	for id == 0 || p.parked[id] != nil {
		id++
	}
	p.nextID = id
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT, Fd: int32(id)}
	var cerr error
	err = raw.Control(func(fd uintptr) {
		if c.epollArmed {
			cerr = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_MOD, int(fd), &ev)
			if cerr != syscall.ENOENT {
				return
			}
		}
		cerr = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev)
	})
	if err != nil || cerr != nil {
		return false
	}
	c.epollArmed = true
	c.parkID = id
	p.parked[id] = c
	dl := c.idleDeadline
	if !dl.IsZero() {
		heap.Push(&p.expiry, c)
		if p.waitDL.IsZero() || dl.Before(p.waitDL) {
			p.waitDL = dl
			_ = p.f.SetReadDeadline(dl)
		}
	}
	return true
}

// unpark takes c out of the parker; false if it was not parked.
func (p *parker) unpark(c *conn) bool {
	if !p.ok.Load() {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.takeLocked(c.parkID) != nil
}

func (p *parker) takeLocked(id uint32) *conn {
	c := p.parked[id]
	if c == nil || id == 0 {
		return nil
	}
	delete(p.parked, id)
	c.parkID = 0
	if c.heapIdx >= 0 {
		heap.Remove(&p.expiry, c.heapIdx)
	}
	return c
}

// run waits for parked connections to become readable or expire.
func (p *parker) run() {
	defer close(p.stopped)
	var wake []*conn
	for {
		err := p.rc.Read(func(uintptr) bool {
			n, _ := syscall.EpollWait(p.epfd, p.events[:], 0)
			if n <= 0 {
				return false // wait for the epoll instance to be readable
			}
			p.mu.Lock()
			for _, ev := range p.events[:n] {
				if c := p.takeLocked(uint32(ev.Fd)); c != nil {
					wake = append(wake, c)
				}
			}
			p.mu.Unlock()
			return true
		})
		now := time.Now()
		p.mu.Lock()
		for len(p.expiry) > 0 && !p.expiry[0].idleDeadline.After(now) {
			wake = append(wake, p.takeLocked(p.expiry[0].parkID))
		}
		dl := time.Time{}
		if len(p.expiry) > 0 {
			dl = p.expiry[0].idleDeadline
		}
		if !dl.Equal(p.waitDL) {
			p.waitDL = dl
			_ = p.f.SetReadDeadline(dl)
		}
		closed := p.closed
		p.mu.Unlock()
		for i, c := range wake {
			go c.resume()
			wake[i] = nil
		}
		wake = wake[:0]
		if closed || (err != nil && !os.IsTimeout(err)) {
			return
		}
	}
}

// close resumes every parked connection (each then sees the server
// closing, or its own state, and ends) and stops the parker.
func (p *parker) close() {
	p.once.Do(func() {}) // a park setting the parker up has finished
	if !p.ok.Load() {
		return
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	var wake []*conn
	for id := range p.parked {
		wake = append(wake, p.takeLocked(id))
	}
	p.expiry = nil
	p.mu.Unlock()
	for _, c := range wake {
		go c.resume()
	}
	_ = p.f.Close()
	<-p.stopped
}

// expiryHeap orders parked connections by idle deadline; each knows its
// index (conn.heapIdx, -1 when not in the heap), so a connection woken by
// data leaves the heap at once.
type expiryHeap []*conn

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].idleDeadline.Before(h[j].idleDeadline) }
func (h expiryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIdx, h[j].heapIdx = i, j
}
func (h *expiryHeap) Push(x any) {
	c := x.(*conn)
	c.heapIdx = len(*h)
	*h = append(*h, c)
}
func (h *expiryHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	c.heapIdx = -1
	return c
}

package gateway

import (
	"context"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Watch reloads when the config file or any file it references changes,
// until ctx is done. Directories are watched (not files) because editors and
// secret managers replace files by renaming, which a file watch would lose.
// Bursts of events are coalesced: one reload per quiet period.
func (g *Gateway) Watch(ctx context.Context, quiet time.Duration) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer w.Close()
	watched := map[string]bool{}
	files := map[string]bool{}
	sync := func() {
		files = map[string]bool{}
		for _, f := range g.Files() {
			files[f] = true
			d := filepath.Dir(f)
			if !watched[d] {
				if err := w.Add(d); err != nil {
					g.log.Warn("cannot watch directory; changes there need SIGHUP", "dir", d, "error", err)
					continue
				}
				watched[d] = true
			}
		}
	}
	sync()
	var timer <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if files[filepath.Clean(ev.Name)] && ev.Op&(fsnotify.Write|fsnotify.Create|fsnotify.Rename|fsnotify.Remove) != 0 {
				timer = time.After(quiet)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			g.log.Warn("file watcher error", "error", err)
		case <-timer:
			timer = nil
			g.log.Info("referenced file changed; reloading")
			_ = g.Reload() // logged and counted by Reload
			sync()
		}
	}
}

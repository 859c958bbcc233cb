package logfile

import (
	"path/filepath"
	"sync"

	"github.com/fsnotify/fsnotify"
)

// Watcher wakes the followers of logs whose directory changed (a write, a
// rotation): one inotify instance for every log of an input, since a host
// allows few per user (128 by default) and the daemon needs its own.
type Watcher struct {
	w    *fsnotify.Watcher
	done chan struct{}

	mu   sync.Mutex
	dirs map[string]map[chan struct{}]bool
}

// NewWatcher starts a watcher; it fails where inotify is not available,
// and followers then poll.
func NewWatcher() (*Watcher, error) {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	w := &Watcher{w: fw, done: make(chan struct{}), dirs: map[string]map[chan struct{}]bool{}}
	go w.run()
	return w, nil
}

// run passes events on until Close; a wake-up is dropped when one is
// already pending, so a busy log costs its follower nothing more.
func (w *Watcher) run() {
	defer close(w.done)
	for {
		select {
		case ev, ok := <-w.w.Events:
			if !ok {
				return
			}
			w.wake(filepath.Dir(ev.Name))
		case _, ok := <-w.w.Errors:
			if !ok {
				return
			}
			// An overflow loses events: wake every follower to look.
			w.wakeAll()
		}
	}
}

func (w *Watcher) wake(dir string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for c := range w.dirs[dir] {
		notify(c)
	}
}

func (w *Watcher) wakeAll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, subs := range w.dirs {
		for c := range subs {
			notify(c)
		}
	}
}

func notify(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Subscribe returns a channel that receives when dir changes, and the
// function that ends the subscription. It returns a nil channel (poll)
// when dir cannot be watched.
func (w *Watcher) Subscribe(dir string) (<-chan struct{}, func()) {
	if w == nil {
		return nil, func() {}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	subs := w.dirs[dir]
	if subs == nil {
		if err := w.w.Add(dir); err != nil {
			return nil, func() {}
		}
		subs = map[chan struct{}]bool{}
		w.dirs[dir] = subs
	}
	c := make(chan struct{}, 1)
	subs[c] = true
	return c, func() { w.unsubscribe(dir, c) }
}

func (w *Watcher) unsubscribe(dir string, c chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	subs := w.dirs[dir]
	delete(subs, c)
	if len(subs) == 0 && subs != nil {
		delete(w.dirs, dir)
		w.w.Remove(dir) // fails once dir is gone, which removed the watch
	}
}

// Close ends the watcher and its goroutine.
func (w *Watcher) Close() error {
	if w == nil {
		return nil
	}
	err := w.w.Close()
	<-w.done
	return err
}

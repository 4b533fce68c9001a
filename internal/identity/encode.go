package identity

import "sync"

// encodings caches header values per identity, computed on first use.
type encodings struct {
	once sync.Once
}

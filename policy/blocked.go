package policy

import "sync"

// maxBlocked bounds the async block memory, in keys.
const maxBlocked = 10_000

// blockMemory remembers, for async policies, the keys found over their
// limit and until when, so that later requests are refused without a store
// round trip. Safe for concurrent use.
type blockMemory struct {
	mu    sync.Mutex
	until map[string]int64 // unix nanoseconds
}

func newBlockMemory() *blockMemory { return &blockMemory{until: map[string]int64{}} }

// get returns until when key is blocked, if it is at now.
func (b *blockMemory) get(key string, now int64) (int64, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	u, ok := b.until[key]
	if ok && u <= now {
		delete(b.until, key)
		ok = false
	}
	return u, ok
}

// put blocks key until the given time.
func (b *blockMemory) put(key string, until, now int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.until[key]; !ok && len(b.until) >= maxBlocked {
		for k, u := range b.until {
			if u <= now {
				delete(b.until, k)
			}
		}
		for k := range b.until { // still full: forget one at random
			if len(b.until) < maxBlocked {
				break
			}
			delete(b.until, k)
		}
	}
	b.until[key] = until
}

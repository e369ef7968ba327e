package servicetest

import (
	"context"
	"time"

	"github.com/redis/rueidis"
)

// RedisPrefixKeys returns the keys under prefix (keys named prefix:…) on
// every node of client.
func RedisPrefixKeys(client rueidis.Client, prefix string) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var keys []string
	for _, node := range client.Nodes() {
		cursor := uint64(0)
		for {
			e, err := node.Do(ctx, node.B().Scan().Cursor(cursor).Match(prefix+":*").Count(1000).Build()).AsScanEntry()
			if err != nil {
				return nil, err
			}
			keys = append(keys, e.Elements...)
			if cursor = e.Cursor; cursor == 0 {
				break
			}
		}
	}
	return keys, nil
}

// DeleteRedisPrefix deletes every key under prefix, as a test cleans up
// after itself on a Redis other tests share.
func DeleteRedisPrefix(client rueidis.Client, prefix string) error {
	keys, err := RedisPrefixKeys(client, prefix)
	if err != nil || len(keys) == 0 {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmds := make(rueidis.Commands, len(keys))
	for i, k := range keys {
		cmds[i] = client.B().Unlink().Key(k).Build()
	}
	for _, r := range client.DoMulti(ctx, cmds...) {
		if err := r.Error(); err != nil {
			return err
		}
	}
	return nil
}

package redis

import (
	"strings"

	"github.com/sluicehq/sluice/algorithm"
)

// Key layout. The state of key K under an algorithm lives at
//
//	<prefix>:{K}:<suffix>
//
// with one suffix per algorithm (suffixes) and "lease" for concurrency
// leases. The braces make the part of K up to its first '}' the Cluster
// hash tag, so every state of one key shares a slot (Reset deletes them in
// one command), and callers who start several keys with the same "{tag}"
// put them in one slot too, which makes an all-or-nothing check across them
// a single atomic script.
//
// The encoding is unambiguous: the prefix has no braces and the suffixes
// contain neither ':' nor '}', so stripping "<prefix>:{" and the known
// "}:<suffix>" gives back K and the algorithm, whatever bytes K holds.

// leaseSuffix names the key of concurrency leases.
const leaseSuffix = "lease"

// suffix returns the key suffix of an algorithm, "}:" included.
func suffix(a algorithm.Algorithm) string {
	switch a {
	case algorithm.FixedWindow:
		return "}:fw"
	case algorithm.TokenBucket:
		return "}:tb"
	case algorithm.GCRA:
		return "}:gcra"
	case algorithm.Counter:
		return "}:count"
	case algorithm.Quota:
		return "}:quota"
	}
	return "}:sw"
}

// allSuffixes lists every suffix a key may have, for Reset.
func allSuffixes() [7]string {
	return [7]string{
		suffix(algorithm.SlidingWindow), suffix(algorithm.FixedWindow), suffix(algorithm.TokenBucket),
		suffix(algorithm.GCRA), suffix(algorithm.Counter), suffix(algorithm.Quota), "}:" + leaseSuffix,
	}
}

// slot returns the Redis Cluster hash slot of a Redis key: CRC16 (XMODEM)
// of its hash tag (the bytes between the first '{' and the next '}', if not
// empty) or of the whole key, modulo 16384.
func slot(key string) uint16 {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	var crc uint16
	for i := 0; i < len(key); i++ {
		crc ^= uint16(key[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc & 16383
}

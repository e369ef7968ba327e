package store

import "strings"

// JoinKey builds one key from several parts, such as a policy name and a
// caller identity, so that two different tuples of parts never produce the
// same key whatever characters the parts contain: parts are joined with ':'
// and every ':' or '\' inside a part is escaped with '\'. The result stays
// readable in Redis ("login:alice@example.com").
func JoinKey(parts ...string) string {
	n := len(parts)
	for _, p := range parts {
		n += len(p)
	}
	var b strings.Builder
	b.Grow(n)
	for i, p := range parts {
		if i > 0 {
			b.WriteByte(':')
		}
		if strings.IndexByte(p, ':') < 0 && strings.IndexByte(p, '\\') < 0 {
			b.WriteString(p)
			continue
		}
		for j := 0; j < len(p); j++ {
			if p[j] == ':' || p[j] == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(p[j])
		}
	}
	return b.String()
}

package bench

// nginx as a contender in the gateway benchmark: a foreground nginx with a
// configuration in a temporary directory, proxying to the same upstream
// with limit_req on the client address.

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// gwNginxConf is the benchmark's nginx configuration: as many workers as
// cores, keep-alive to the client and to the upstream, no access log, and
// a limit_req zone on $binary_remote_addr with a rate nothing reaches (the
// burst absorbs the requests of 64 connections arriving in the same
// microsecond).
const gwNginxConf = `daemon off;
master_process on;
worker_processes auto;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    keepalive_requests 1000000;
    limit_req_zone $binary_remote_addr zone=z:10m rate=1000000r/s;
    upstream backend {
        server %[2]s;
        keepalive 128;
    }
    server {
        listen %[3]s;
        location / {
            limit_req zone=z burst=100000 nodelay;
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
`

// gwStartNginx runs nginx in front of upstream (host:port) until the
// benchmark ends and returns its address and the master's process ID; when
// nginx is not installed it returns "" and the reason.
func gwStartNginx(b *testing.B, upstream string) (addr string, pid int, missing string) {
	b.Helper()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		for _, p := range []string{"/usr/sbin/nginx", "/usr/local/sbin/nginx"} {
			if _, serr := os.Stat(p); serr == nil {
				bin, err = p, nil
				break
			}
		}
	}
	if err != nil {
		return "", 0, "nginx is not installed, so the side-by-side run is skipped (Debian: apt-get install -y nginx)"
	}
	addr = gwFreeAddr(b)
	dir := b.TempDir()
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(gwNginxConf, dir, upstream, addr)), 0o600); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(bin, "-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log"))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt) // fast shutdown of master and workers
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	for range 100 {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr, cmd.Process.Pid, ""
		}
		time.Sleep(50 * time.Millisecond)
	}
	log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
	b.Fatalf("nginx did not start on %s:\n%s", addr, strings.TrimSpace(string(log)))
	return "", 0, ""
}

// gwFreeAddr returns a loopback address with a port free right now.
func gwFreeAddr(b *testing.B) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

package verify

import (
	"context"
	"fmt"
	"net"
	"strings"

	"github.com/slimage/slimage/images/daemon"
	"github.com/slimage/slimage/images/probe/report"
)

// reachable proves that each exposed port answers where other containers,
// a load balancer or a published port would connect: the service's address
// on its network, from a container of its own. start's probe shares the
// service's network namespace, so it also reaches a service that listens
// on 127.0.0.1 only, which nothing else can. Only this run's containers
// are contacted. UDP has no handshake to try: its ports must be bound on
// an address other than loopback.
func reachable(ctx context.Context, s *subject) []Check {
	var tcp, udp []string
	for _, p := range s.image.Ports {
		if strings.HasSuffix(p, "/udp") {
			udp = append(udp, p)
		} else if strings.HasSuffix(p, "/tcp") {
			tcp = append(tcp, p)
		}
	}
	if len(tcp)+len(udp) == 0 {
		return nil
	}
	fail := func(port, got, cause string) Check {
		return Check{Name: CheckReachable + " " + port, Expected: "answers from another container", Got: got, Cause: "reachable " + port + ": " + cause}
	}
	ip, err := s.t.IP(ctx)
	if err != nil || ip == "" {
		var checks []Check
		for _, p := range append(tcp, udp...) {
			checks = append(checks, fail(p, "no address", "the container has no address on a network, so nothing outside it can connect: run it on a bridge network"))
		}
		return checks
	}
	reached := map[string]string{} // port → error, "" when it connected
	if len(tcp) > 0 {
		var addrs []string
		for _, p := range tcp {
			addrs = append(addrs, net.JoinHostPort(ip, strings.TrimSuffix(p, "/tcp")))
		}
		var got []report.Reach
		// The first port answered already; others may open a little later.
		err := runProbe(ctx, s.t, netBridge, &got, "reach", "-addrs", strings.Join(addrs, ","), "-timeout", s.set.Settle.String())
		for i, p := range tcp {
			switch {
			case err != nil:
				reached[p] = daemon.FirstLine(err)
			case i < len(got):
				reached[p] = got[i].Error
			default:
				reached[p] = "no answer from the probe"
			}
		}
	}
	// What the service has bound explains a failure, and decides for UDP.
	var bound []report.Listener
	needBound := len(udp) > 0
	for _, e := range reached {
		needBound = needBound || e != ""
	}
	if needBound {
		// A service that died meanwhile is stays up's failure, not this one's.
		if exited(ctx, s.t) {
			var checks []Check
			for _, p := range append(tcp, udp...) {
				checks = append(checks, Check{Name: CheckReachable + " " + p, Expected: "answers from another container",
					Got: "not checked: the service exited (see stays up)", Pass: true})
			}
			return checks
		}
		_ = runProbe(ctx, s.t, netService, &bound, "listeners", "-ports", strings.Join(append(tcp, udp...), ","))
	}
	addrsOf := map[string][]string{}
	for _, l := range bound {
		addrsOf[l.Port] = l.Addrs
	}

	var checks []Check
	for _, p := range append(tcp, udp...) {
		num := strings.Split(p, "/")[0]
		at := net.JoinHostPort(ip, num)
		e, isTCP := reached[p]
		if isTCP && e == "" {
			checks = append(checks, Check{Name: CheckReachable + " " + p, Expected: "answers from another container", Got: "answers at " + at, Pass: true})
			continue
		}
		addrs := addrsOf[p]
		switch {
		case needBound && bound == nil:
			checks = append(checks, fail(p, "no answer", fmt.Sprintf("connect to %s from another container: %s: listen on :%s (all interfaces)", at, e, num)))
		case len(addrs) == 0:
			checks = append(checks, fail(p, "nothing listens", fmt.Sprintf("nothing listens on %s, which the image exposes: listen on :%s, or drop EXPOSE %s", p, num, p)))
		case loopbackOnly(addrs):
			checks = append(checks, fail(p, "loopback only", fmt.Sprintf("listens on %s only, which no other container or published port reaches: listen on :%s (all interfaces, 0.0.0.0) instead", strings.Join(addrs, ", "), num)))
		case !isTCP:
			checks = append(checks, Check{Name: CheckReachable + " " + p, Expected: "bound beyond loopback", Got: "bound on " + strings.Join(addrs, ", "), Pass: true})
		default:
			checks = append(checks, fail(p, "no answer", fmt.Sprintf("listens on %s, but %s does not answer from another container: %s", strings.Join(addrs, ", "), at, e)))
		}
	}
	return checks
}

func loopbackOnly(addrs []string) bool {
	for _, a := range addrs {
		host, _, _ := net.SplitHostPort(a)
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			return false
		}
	}
	return true
}

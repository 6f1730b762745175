// CoreDNS with only the plugins the real node's Corefile uses (test/support/node-network.ts): bind, errors
// and kubernetes. The whole of CoreDNS compiles every plugin it ships (cloud DNS providers, etcd, dnstap,
// ...) and takes several times as long to build cold; this is CoreDNS's documented way to build a subset
// ("Build with external golang source code": coredns.io/2017/07/25/compile-time-enabling-or-disabling-plugins/).
// A Corefile that names any other plugin fails at start with "no action found for directive".
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/kubernetes"
)

// The plugins in the order CoreDNS runs them, which is their order in CoreDNS's own list
// (core/dnsserver/zdirectives.go); a plugin added here must keep that order.
var directives = []string{
	"bind",
	"errors",
	"kubernetes",
}

func init() {
	dnsserver.Directives = directives
}

func main() {
	coremain.Run()
}

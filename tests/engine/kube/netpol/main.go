// Command network-policies enforces NetworkPolicy on the real node of mlplan's cluster e2e suite:
// the controller of sigs.k8s.io/kube-network-policies (it judges the first packet of each new
// connection it reads from an nfqueue against the cluster's NetworkPolicies), run as a host
// process with a kubeconfig (upstream's cmd/main.go reads only a pod's in-cluster config), admin
// policies and the DNS race workaround off. v0.7.0, not v0.8.0: v0.8.0 with NRI off (this node's
// containerd 1.6 has no NRI) dereferences its nil NRI plugin for an address not (yet) in its pod
// index, e.g. a pod's first packet before its IP reaches the API: it panicked on the first
// queued packet here.
//
// The diversion to the queue is ours. Upstream writes it with nftables' `queue` statement, which
// needs the kernel's nft_queue module; kernels without it (this suite's machines) have only the
// xtables NFQUEUE target, which nftables reaches through nft_compat (as iptables-nft does).
// Upstream's own rule sync then fails as a whole (one atomic transaction: nothing of it is
// written; it logs "syncing nftables rules" errors) while its queue reader works. So this
// program writes ONE table, `ip <--table>`, once the controller has bound the queue:
//
//	chain prerouting (filter, priority dstnat + 5, policy accept)
//	  ct state established,related accept
//	  ip saddr <--pod-cidr> NFQUEUE num <--queue>   new connections from a pod of the node
//	  ip daddr <--pod-cidr> NFQUEUE num <--queue>   new connections to one
//
// Prerouting after DNAT (a Service's address already replaced by its pod's), as upstream does for
// DNS. Not postrouting, upstream's choice: on this node's bridge (br_netfilter) a connection's
// first packet was seen queued twice there and the connection never opened (the router answered
// 408); prerouting sees each packet once, as it enters the bridge. Packets the host
// itself sends (kubelet probes, the tests' clients) never pass prerouting. Other addresses never
// match. The table is deleted when the program stops (SIGTERM/SIGINT);
// `nft delete table ip <--table>` removes it after a crash (with no queue reader its rules drop
// new pod connections, fail-closed like upstream's default).
package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/xt"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	"sigs.k8s.io/kube-network-policies/pkg/networkpolicy"
)

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "network-policies: "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the cluster (required)")
	node := flag.String("node", "", "name of the Node whose pods are enforced (required)")
	podCIDR := flag.String("pod-cidr", "", "the node's pod addresses, e.g. 10.244.77.0/24 (required)")
	table := flag.String("table", "mlplan-network-policies", "nftables table (family ip) it owns")
	queue := flag.Int("queue", 100, "nfqueue number")
	klog.InitFlags(nil)
	flag.Parse()
	_, cidr, err := net.ParseCIDR(*podCIDR)
	if *kubeconfig == "" || *node == "" || err != nil || cidr.IP.To4() == nil {
		fail("--kubeconfig, --node and an IPv4 --pod-cidr are required")
	}
	config, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		fail("%v", err)
	}
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		fail("%v", err)
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer cancel()
	factory := informers.NewSharedInformerFactory(client, 0)
	controller, err := networkpolicy.NewController(client,
		factory.Networking().V1().NetworkPolicies(), factory.Core().V1().Namespaces(),
		factory.Core().V1().Pods(), nil, nil, nil, nil,
		networkpolicy.Config{QueueID: *queue, NodeName: *node,
			NFTableName: *table + "-upstream"})
	if err != nil {
		fail("%v", err)
	}
	factory.Start(ctx.Done())
	done := make(chan error, 1)
	go func() { done <- controller.Run(ctx) }()

	for !queueBound(*queue) {
		select {
		case err := <-done:
			fail("the controller stopped before binding nfqueue %d: %v", *queue, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
	if err := divert(*table, cidr, uint16(*queue)); err != nil {
		fail("writing table ip %s: %v", *table, err)
	}
	klog.InfoS("diverting new pod connections", "table", *table, "podCIDR", cidr.String(),
		"queue", *queue)
	err = <-done
	if cleanErr := deleteTable(*table); cleanErr != nil {
		klog.ErrorS(cleanErr, "deleting the table", "table", *table)
	}
	if err != nil && ctx.Err() == nil {
		fail("%v", err)
	}
}

// queueBound reports whether a process reads nfqueue `queue` (/proc/net/netfilter/nfnetlink_queue).
func queueBound(queue int) bool {
	f, err := os.Open("/proc/net/netfilter/nfnetlink_queue")
	if err != nil {
		return false
	}
	defer f.Close()
	lines := bufio.NewScanner(f)
	for lines.Scan() {
		fields := strings.Fields(lines.Text())
		if len(fields) > 0 && fields[0] == strconv.Itoa(queue) {
			return true
		}
	}
	return false
}

// nfqueueTarget is xtables' NFQUEUE target, revision 3 (struct xt_NFQ_info_v3: queuenum,
// queues_total, flags; native byte order; padded to XT_ALIGN, 8 bytes); no bypass flag.
func nfqueueTarget(queue uint16) *expr.Target {
	info := make(xt.Unknown, 8)
	binary.NativeEndian.PutUint16(info[0:], queue)
	binary.NativeEndian.PutUint16(info[2:], 1)
	return &expr.Target{Name: "NFQUEUE", Rev: 3, Info: &info}
}

func divert(name string, cidr *net.IPNet, queue uint16) error {
	nft, err := nftables.New()
	if err != nil {
		return err
	}
	table := &nftables.Table{Name: name, Family: nftables.TableFamilyIPv4}
	nft.AddTable(table)
	nft.DelTable(table) // add + delete + add: a table left by a crash is replaced whole
	nft.AddTable(table)
	chain := nft.AddChain(&nftables.Chain{
		Name: "prerouting", Table: table, Type: nftables.ChainTypeFilter,
		Hooknum:  nftables.ChainHookPrerouting,
		Priority: nftables.ChainPriorityRef(*nftables.ChainPriorityNATDest + 5),
	})
	rules := [][]expr.Any{
		{
			&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
				Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitESTABLISHED |
					expr.CtStateBitRELATED),
				Xor: []byte{0, 0, 0, 0}},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{0, 0, 0, 0}},
			&expr.Verdict{Kind: expr.VerdictAccept},
		},
	}
	for _, offset := range []uint32{12, 16} { // source, destination address
		rules = append(rules, []expr.Any{
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader,
				Offset: offset, Len: 4},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4,
				Mask: cidr.Mask, Xor: []byte{0, 0, 0, 0}},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: cidr.IP.To4()},
			nfqueueTarget(queue),
		})
	}
	for _, exprs := range rules {
		nft.AddRule(&nftables.Rule{Table: table, Chain: chain, Exprs: exprs})
	}
	return nft.Flush()
}

func deleteTable(name string) error {
	nft, err := nftables.New()
	if err != nil {
		return err
	}
	nft.DelTable(&nftables.Table{Name: name, Family: nftables.TableFamilyIPv4})
	if err := nft.Flush(); err != nil && !strings.Contains(err.Error(), "no such file") {
		return err
	}
	return nil
}

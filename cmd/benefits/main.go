// Command benefits runs the partner-benefits ledger: `benefits serve` runs the service
// (all of it, or one role of it), `benefits token` prints a bearer token for it.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `Usage: benefits <command> [flags]

Commands:
  serve   run the ledger: HTTP API, forwarder and projectors (see serve --help)
  token   print a bearer token signed with the secret serve uses (see token --help)
  probe   GET a health URL; exit 0 on 2xx (the container health check; see probe --help)
  loadtest --scenario commands|visibility|offered|queries|offered-queries|history
          drive a running system and report throughput and latency (see loadtest --help)
  audit verify          walk the event store's hash chain; report the first broken link
  audit verify --checkpoint FILE   prove today's log extends a signed checkpoint saved earlier
  audit checkpoint|proof|key|keygen   signed checkpoints, proofs and keys (see audit --help)
  history export        write the event log (or --partner's events) as NDJSON
  projections list      read models with checkpoint, head, lag, state and dead letters
  projections rebuild NAME [--dry-run]   rebuild a read model, diff it, swap it in
  version               print the build's version (also --version)

audit, history and projections open the stores, or with --api-url and a token
(--token, --token-file) call a running deployment's HTTP API; --output json on each.

Every setting is a flag and an environment variable BENEFITS_<NAME>; a flag wins.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without the process: exit code 0 on success or help, 2 on a usage or
// configuration mistake, 1 on a failure while running.
func run(ctx context.Context, args []string, env func(string) (string, bool), stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = runServe(ctx, args[1:], env, stdout, stderr)
	case "token":
		err = runToken(args[1:], env, stdout)
	case "probe":
		err = runProbe(ctx, args[1:], env, stdout)
	case "loadtest":
		err = runLoadtest(ctx, args[1:], env, stdout)
	case "audit", "history", "projections":
		if len(args) > 1 && isHelpFlag(args[1]) {
			fmt.Fprint(stdout, opsUsage(args[0]))
			return 0
		}
		err = runOpsCommand(ctx, args, env, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, versionLine())
		return 0
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "benefits: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	var ue usageError
	switch {
	case err == nil, errors.Is(err, errHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "benefits %s: %v\n", args[0], err)
		return 2
	default:
		fmt.Fprintf(stderr, "benefits %s: %v\n", args[0], err)
		return 1
	}
}

func isHelpFlag(arg string) bool {
	switch arg {
	case "help", "-h", "--help", "-help":
		return true
	}
	return false
}

// opsUsage is the usage of an operator's command group (audit, history, projections).
func opsUsage(group string) string {
	switch group {
	case "audit":
		return auditUsage
	case "history":
		return historyUsage
	default:
		return fmt.Sprintf(projectionsUsage, projectionNames())
	}
}

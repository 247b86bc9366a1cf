package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/hangarvm/hangar/internal/hangar"
)

// Exit codes, one per class of failure, so that a script can tell "not there" from
// "not allowed" from "try again later" without reading messages. The root
// command's help lists them: keep both in step.
const (
	exitFailed    = 1 // anything not below
	exitUsage     = 2 // the command line itself: unknown flag, bad value, missing argument, bad -o
	exitNotFound  = 3 // 404
	exitAuth      = 4 // 401, 403
	exitConflict  = 5 // 409, 412: the resource's state forbids it now
	exitTransient = 6 // 5xx, network, timeouts: the same command may work later
)

const exitCodesHelp = `Exit codes:
  0  success
  1  any other failure
  2  usage: unknown command or flag, bad flag value or arguments, bad -o or --query,
     or a delete without --yes where there is no terminal to ask on
  3  not found
  4  not authenticated or not allowed (401, 403)
  5  conflict or failed precondition (409, 412): in use, exists, over quota, or
     changed since read (--if-match)
  6  server error or transient: 5xx, 429, network, timeout; retrying may help
  When its script fails, vm run-command exits with the script's exit status.`

// usageError is a command line that cannot be run as given.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usageErrorf(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// withHelpHint adds to the first line of err, one of cobra's, where to read how
// cmd is used. Cobra's "Did you mean this?" suggestions stay after it.
func withHelpHint(err error, cmd *cobra.Command) error {
	first, rest, _ := strings.Cut(strings.TrimSpace(err.Error()), "\n")
	return fmt.Errorf("%s; see \"%s --help\"%s", first, cmd.CommandPath(), strings.TrimRight("\n"+rest, "\n"))
}

// scriptExit is vm run-command's script ending with a non-zero status, which the
// command exits with.
type scriptExit struct{ status int }

func (e scriptExit) Error() string { return fmt.Sprintf("the script exited with status %d", e.status) }

// exitCode is the process's exit code for err.
func exitCode(err error) int {
	exit, _ := classify(err)
	return exit
}

// errorCode names err's class in a JSON error: the API's code when the server
// gave one, else one of the CLI's own.
func errorCode(err error) string {
	_, code := classify(err)
	return code
}

// classify gives err's exit code and the name of its class.
func classify(err error) (exit int, code string) {
	var script scriptExit
	var usage usageError
	var he *hangar.Error
	switch {
	case errors.As(err, &script):
		if script.status > 0 && script.status < 256 {
			return script.status, "ScriptFailed"
		}
		return exitFailed, "ScriptFailed"
	case errors.As(err, &usage):
		return exitUsage, "UsageError"
	case errors.As(err, &he):
		// The status the server answers with for the code: one table.
		switch status := he.Code.HTTPStatus(); {
		case status == http.StatusNotFound:
			return exitNotFound, string(he.Code)
		case status == http.StatusUnauthorized || status == http.StatusForbidden:
			return exitAuth, string(he.Code)
		case status == http.StatusConflict || status == http.StatusPreconditionFailed:
			return exitConflict, string(he.Code)
		case status >= 500 || status == http.StatusTooManyRequests:
			return exitTransient, string(he.Code)
		}
		return exitFailed, string(he.Code)
	case timedOut(err):
		return exitTransient, "Timeout"
	case unreachable(err):
		return exitTransient, "ConnectionFailed"
	}
	return exitFailed, "CommandFailed"
}

func timedOut(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// unreachable says whether err is the network's: the server could not be reached,
// or the connection broke. A bad CA file or a refused certificate is not: retrying
// would not help.
func unreachable(err error) bool {
	var op *net.OpError
	var dns *net.DNSError
	if errors.As(err, &op) || errors.As(err, &dns) {
		return true
	}
	var ue *url.Error
	return errors.As(err, &ue) && (errors.Is(ue.Err, io.EOF) || errors.Is(ue.Err, io.ErrUnexpectedEOF))
}

// printError writes err to w: as {"error":{"code":...,"message":...}} when the
// output is a document (a script parses stderr as it parses stdout), else as text.
func (g *globals) printError(w io.Writer, err error) {
	switch strings.ToLower(g.output) {
	case "json", "jsonc", "yaml":
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false) // messages quote commands: keep <, >, & readable
		out := hangar.Error{Code: hangar.Code(errorCode(err)), Message: err.Error()}
		if he := (*hangar.Error)(nil); errors.As(err, &he) {
			out.RequestID = he.RequestID
		}
		enc.Encode(map[string]hangar.Error{"error": out})
	default:
		fmt.Fprintln(w, "error:", err)
	}
}

// outputIn is the -o among args, read without the command's own flags.
func outputIn(args []string) string {
	fs := pflag.NewFlagSet("output", pflag.ContinueOnError)
	fs.ParseErrorsAllowlist.UnknownFlags = true
	fs.SetOutput(io.Discard)
	output := fs.StringP("output", "o", "table", "")
	fs.Parse(args)
	return *output
}

package netstack

import (
	"context"
	"io"
	"log/slog"

	"github.com/sirupsen/logrus"
)

// RouteLibraryLogs sends what gvisor-tap-vsock logs (through logrus's one global
// logger, in its own text format) to log at debug level instead of stderr: a
// connection that ends or a datagram that cannot be relayed is routine here, and
// what matters the network reports itself. Call it once, from main.
func RouteLibraryLogs(log *slog.Logger) {
	logrus.SetOutput(io.Discard)
	logrus.AddHook(slogHook{log})
}

type slogHook struct{ log *slog.Logger }

func (slogHook) Levels() []logrus.Level { return logrus.AllLevels }

func (h slogHook) Fire(e *logrus.Entry) error {
	h.log.Log(context.Background(), slog.LevelDebug, "netstack library: "+e.Message)
	return nil
}

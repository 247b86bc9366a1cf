package api

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hangarvm/hangar/internal/buildinfo"
	"github.com/hangarvm/hangar/internal/catalog"
)

// serviceMetrics reports what the service holds and does, read when /metrics is
// scraped: the counts come from aggregate queries, so they are the same on every
// node; GC and scrub results are this node's, as are the build's.
type serviceMetrics struct {
	cat *catalog.Service
	log *slog.Logger

	build, disks, diskStored, diskVirtual, uploads, vms, replPending, replBacklog   *prometheus.Desc
	heartbeatAge, gcAt, gcScanned, gcRemoved, gcRemovedBytes, scrubAt, scrubCorrupt *prometheus.Desc
	storeChunks, storeBytes, scrapeErrors                                           *prometheus.Desc
	deliveries, unsummed, chunkPUTs                                                 *prometheus.Desc
}

func newServiceMetrics(cat *catalog.Service, log *slog.Logger) *serviceMetrics {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &serviceMetrics{cat: cat, log: log,
		build:          d("hangar_build_info", "The build of this node: always 1.", "version", "revision", "goversion"),
		disks:          d("hangar_disks", "Disks stored, all tenants."),
		diskStored:     d("hangar_disk_stored_bytes", "Sum of the disks' stored bytes (chunks shared by several disks count in each)."),
		diskVirtual:    d("hangar_disk_virtual_bytes", "Sum of the disks' virtual sizes."),
		uploads:        d("hangar_uploads_in_progress", "Uploads started and not yet committed."),
		vms:            d("hangar_vms", "VMs by compute host and power state.", "host", "state"),
		replPending:    d("hangar_replication_pending", "Image version copies to regions still replicating."),
		replBacklog:    d("hangar_replication_backlog_bytes", "Bytes the replicating copies still miss."),
		heartbeatAge:   d("hangar_host_heartbeat_age_seconds", "Time since each compute host last reported.", "host", "region"),
		gcAt:           d("hangar_gc_last_run_timestamp_seconds", "When this node last collected garbage (0: not since it started)."),
		gcScanned:      d("hangar_gc_last_scanned_chunks", "Chunks the last garbage collection looked at, in every store."),
		gcRemoved:      d("hangar_gc_last_removed_chunks", "Chunks the last garbage collection removed."),
		gcRemovedBytes: d("hangar_gc_last_removed_bytes", "Bytes the last garbage collection removed."),
		scrubAt:        d("hangar_scrub_last_run_timestamp_seconds", "When this node last scrubbed the stores (0: not since it started)."),
		scrubCorrupt:   d("hangar_scrub_last_corrupt_chunks", "Corrupt chunks the last scrub found and quarantined."),
		storeChunks:    d("hangar_store_chunks", "Chunks in each chunk store, as the last scrub counted them.", "store"),
		storeBytes:     d("hangar_store_bytes", "Bytes in each chunk store, as the last scrub counted them.", "store"),
		deliveries:     d("hangar_webhook_deliveries", "Webhook deliveries still pending, and those that failed for good (kept 7 days).", "state"),
		unsummed:       d("hangar_disks_without_checksums", "Disks whose SHA-256 and MD5 are still to be computed."),
		chunkPUTs:      d("hangar_chunk_puts", "Chunk PUTs on this node holding a chunk buffer, and waiting for one (bounded per upload, per tenant and per node).", "state"),
		scrapeErrors:   d("hangar_metrics_database_errors", "1 when the database could not be read for this scrape (its metrics are missing)."),
	}
}

// Describe implements prometheus.Collector.
func (m *serviceMetrics) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(m, ch) }

// Collect implements prometheus.Collector.
func (m *serviceMetrics) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	b := buildinfo.Read()
	gauge(m.build, 1, b.Version, b.Revision, b.Go)
	holding, waiting := m.cat.ChunkPUTs()
	gauge(m.chunkPUTs, float64(holding), "holding")
	gauge(m.chunkPUTs, float64(waiting), "waiting")

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, hosts, err := m.cat.Stats(ctx)
	if err != nil {
		m.log.Warn("metrics: reading the database", "err", err)
		gauge(m.scrapeErrors, 1)
	} else {
		gauge(m.scrapeErrors, 0)
		gauge(m.disks, float64(st.Disks))
		gauge(m.diskStored, float64(st.DiskStoredBytes))
		gauge(m.diskVirtual, float64(st.DiskVirtualBytes))
		gauge(m.uploads, float64(st.UploadsInProgress))
		for _, v := range st.VMs {
			gauge(m.vms, float64(v.N), v.Host, v.PowerState)
		}
		gauge(m.replPending, float64(st.ReplicationsPending))
		gauge(m.replBacklog, float64(st.ReplicationBacklogBytes))
		gauge(m.deliveries, float64(st.DeliveriesPending), "pending")
		gauge(m.deliveries, float64(st.DeliveriesFailed), "failed")
		gauge(m.unsummed, float64(st.DisksWithoutChecksums))
		for _, h := range hosts {
			gauge(m.heartbeatAge, time.Since(h.Heartbeat).Seconds(), h.Name, h.Region)
		}
	}
	hy := m.cat.LastHygiene()
	gauge(m.gcAt, unixSeconds(hy.GCAt))
	gauge(m.gcScanned, float64(hy.GC.Scanned))
	gauge(m.gcRemoved, float64(hy.GC.Removed))
	gauge(m.gcRemovedBytes, float64(hy.GC.RemovedBytes))
	gauge(m.scrubAt, unixSeconds(hy.ScrubAt))
	gauge(m.scrubCorrupt, float64(len(hy.Scrub.Corrupt)))
	for name, size := range hy.Stores {
		gauge(m.storeChunks, float64(size.Chunks), name)
		gauge(m.storeBytes, float64(size.Bytes), name)
	}
}

func unixSeconds(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}

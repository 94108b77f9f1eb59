package main

import (
	"bytes"
	"io"
	"testing"

	"github.com/podspec/cloudsqlproxy/cmd/cloudsqlproxy/internal/yamledit"
	"sigs.k8s.io/yaml"
)

// The benchmarks run on one 5,000-document stream (three workloads to two
// other objects, see stream). Three figures, in one run:
//
//   - BenchmarkDecodeEncode5000, the baseline: split the stream, decode
//     every document and encode it again as YAML, the least any tool that
//     rewrites manifests does;
//   - BenchmarkPassThrough5000: the command selecting nothing (--name of no
//     workload), so every document is read, decoded and copied out;
//   - BenchmarkInject5000: the command injecting into all 3,000 workloads.
//
// Each reports documents per second.

const benchDocs = 5000

func reportDocs(b *testing.B) {
	b.ReportMetric(float64(benchDocs*b.N)/b.Elapsed().Seconds(), "docs/s")
}

func BenchmarkInject5000(b *testing.B) {
	benchRun(b, "inject", "--instance", inst, "-f", "-")
}

func BenchmarkPassThrough5000(b *testing.B) {
	benchRun(b, "inject", "--instance", inst, "--name", "no-such-workload", "-f", "-")
}

// benchRun runs the command with args on the benchmark stream.
func benchRun(b *testing.B, args ...string) {
	in := stream(benchDocs)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if code := run(args, bytes.NewReader(in), io.Discard, io.Discard); code != 0 {
			b.Fatalf("exit %d", code)
		}
	}
	reportDocs(b)
}

func BenchmarkDecodeEncode5000(b *testing.B) {
	in := stream(benchDocs)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		docs, errs := yamledit.Split(yamledit.StdinName, in)
		if len(errs) > 0 || len(contentDocs(docs)) != benchDocs {
			b.Fatalf("%d documents, errors %v", len(contentDocs(docs)), errs)
		}
		bodies := make([][]byte, len(docs))
		for i, d := range docs {
			m, err := d.Decode()
			if err != nil {
				b.Fatal(err)
			}
			if bodies[i], err = yaml.Marshal(m); err != nil {
				b.Fatal(err)
			}
		}
		yamledit.Write(docs, bodies)
	}
	reportDocs(b)
}

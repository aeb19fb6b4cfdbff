#!/usr/bin/env python3
"""A small OTLP/HTTP metrics receiver for the tests: decodes each
ExportMetricsServiceRequest (protobuf, the SDK's http/protobuf protocol)
with the opentelemetry-proto package and writes one JSON line per data
point to OUT: service name, metric name, kind, attributes, value.

Usage: receiver.py OUT   (prints the port it listens on, then serves)
"""

import gzip
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest, ExportMetricsServiceResponse


def value(attr):
    v = attr.value
    return getattr(v, v.WhichOneof("value")) if v.WhichOneof("value") else None


def points(request):
    for rm in request.resource_metrics:
        resource = {a.key: value(a) for a in rm.resource.attributes}
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                kind = m.WhichOneof("data")
                for p in getattr(m, kind).data_points:
                    attrs = {a.key: value(a) for a in p.attributes}
                    if kind == "histogram":
                        v = {"count": p.count, "sum": p.sum}
                    else:
                        v = p.as_int if p.WhichOneof("value") == "as_int" else p.as_double
                    yield {"service": resource.get("service.name"), "name": m.name, "kind": kind, "attributes": attrs, "value": v}


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        if self.path != "/v1/metrics":
            self.send_error(404)
            return
        request = ExportMetricsServiceRequest()
        request.ParseFromString(body)
        with open(sys.argv[1], "a", encoding="utf-8") as out:
            for p in points(request):
                out.write(json.dumps(p) + "\n")
        reply = ExportMetricsServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()

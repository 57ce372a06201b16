# Varnish in front of the bench's origin, for the HTTP bench (bench/external.ts): a cache hit of
# the same GET as `cachet serve`. The bench fills in @ORIGIN_PORT@ and starts
# `varnishd -F -j none -a 127.0.0.1:<free port> -f <this> -n <temporary dir> -s malloc,64m`.
# Everything else is Varnish's builtin VCL: the entry lives for the origin's max-age (300 s).
vcl 4.1;

backend origin {
  .host = "127.0.0.1";
  .port = "@ORIGIN_PORT@";
}

sub vcl_deliver {
  # the bench checks this on a probe before each round (and that the origin saw nothing)
  if (obj.hits > 0) {
    set resp.http.X-Cache = "HIT";
  } else {
    set resp.http.X-Cache = "MISS";
  }
}

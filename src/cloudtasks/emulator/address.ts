/** A wildcard bind address is not something a client can connect to; name the loopback instead. */
export function connectableHost(host: string): string {
  if (host === "0.0.0.0" || host === "") return "127.0.0.1";
  if (host === "::" || host === "[::]") return "::1";
  return host;
}

/** host:port, with IPv6 literals in brackets as gRPC targets and URLs need them. */
export function formatHostPort(host: string, port: number): string {
  const bare = host.replace(/^\[(.*)\]$/, "$1");
  return bare.includes(":") ? `[${bare}]:${port}` : `${bare}:${port}`;
}

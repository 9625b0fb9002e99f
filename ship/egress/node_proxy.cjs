// Loaded first by every Node.js of a proxied sandbox (NODE_OPTIONS=--require …): Node's
// own fetch() ignores HTTP_PROXY, so its global dispatcher is replaced by undici's
// EnvHttpProxyAgent, which honours HTTP_PROXY, HTTPS_PROXY and NO_PROXY. npm, git and
// curl read those variables themselves.
try {
  const { EnvHttpProxyAgent, setGlobalDispatcher } = require("/usr/local/lib/node_modules/undici");
  setGlobalDispatcher(new EnvHttpProxyAgent());
} catch (error) {
  process.emitWarning(`Bay egress: fetch() will not use the proxy: ${error.message}`);
}

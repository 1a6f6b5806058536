// Run a command on a .tar.gz with the TypeScript SDK (docs/sdk-typescript.md).
//   CROWNEST_URL=http://127.0.0.1:8000 CROWNEST_TOKEN=cn_... node examples/run-archive.mjs repo.tgz out/
import { Client } from "@crownest/client";

const [archive, outDir] = process.argv.slice(2);
const client = new Client({ baseUrl: process.env.CROWNEST_URL, token: process.env.CROWNEST_TOKEN });
const result = await client.runArchive(archive, {
  template: "python-node",
  command: "python3 build.py",
  artifactPaths: ["dist/"],
  timeoutSeconds: 120,
  outDir,
  onEvent: (e) => e.type === "stdout" && process.stdout.write(e.data.text),
});
console.log(`${result.run.id}: ${result.terminal.status} (exit code ${result.terminal.exitCode})`);
for (const a of result.artifacts) console.log(`artifact ${a.path} sha256 ${a.sha256}`);
process.exitCode = result.terminal.status === "succeeded" ? 0 : 1;

// The page's schema as the server builds it, so the tests use the real definitions.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import path from "node:path";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const python = process.env.PYTHON ?? path.join(root, ".venv", "bin", "python");
const run = spawnSync(python, ["-c",
  "import json; from recent_calls.api.routes.web import page_schema; print(json.dumps(page_schema(1710345600000)))"],
{ encoding: "utf-8" });
if (run.status !== 0) throw new Error(`cannot read the page schema: ${run.stderr}`);

export const schema = JSON.parse(run.stdout);

/**
 * Validates Kubernetes manifests against the API schemas bundled in the npm package
 * kubernetes-models (offline: no cluster, no download at run time). scripts/kube-test.sh
 * installs it and js-yaml into a folder of its own, outside the project's dependencies:
 *
 *   node scripts/kube-validate.mjs MODULES_DIR FILE...
 *
 * One line per document, `ok` or the schema's complaint; exit 1 if any fails. Types, enums,
 * formats and required fields are checked; unknown fields are not (the schemas allow them).
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const [modules, ...files] = process.argv.slice(2);
const load = createRequire(path.join(path.resolve(modules ?? '.'), 'kube-validate.js'));
const yaml = load('js-yaml');

/** The model class of a document: `apps/v1` `Deployment` -> kubernetes-models/apps/v1/Deployment. */
function modelOf(doc) {
  const { apiVersion, kind } = doc;
  if (typeof apiVersion !== 'string' || typeof kind !== 'string') {
    throw new Error('no apiVersion and kind');
  }
  if (!/^[\w.]+(\/\w+)?$/.test(apiVersion) || !/^\w+$/.test(kind)) {
    throw new Error(`not a Kubernetes type: ${apiVersion} ${kind}`);
  }
  return load(`kubernetes-models/${apiVersion}/${kind}`)[kind];
}

let failed = 0;
for (const file of files) {
  const docs = yaml.loadAll(fs.readFileSync(file, 'utf8')).filter((d) => d !== null);
  for (const doc of docs) {
    const name = `${file}: ${doc.kind ?? '?'} ${doc.metadata?.name ?? '?'}`;
    try {
      const Model = modelOf(doc);
      new Model(doc).validate();
      console.log(`ok   - ${name}`);
    } catch (err) {
      failed += 1;
      console.log(`FAIL - ${name}: ${String(err.message).split('\n')[0]}`);
    }
  }
}
process.exit(failed > 0 ? 1 : 0);

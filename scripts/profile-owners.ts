import fs from 'node:fs';

/**
 * `node dist/scripts/profile-owners.js PROFILE.cpuprofile [TOP]`: a V8 CPU profile (from
 * `node --cpu-prof`) summed up by who caused the work. Each sample goes to the nearest frame,
 * leaf first, that belongs to a package (`nm:<package>`) or to the project (`server/…`), so
 * Node's own http, stream and crypto code counts for the package that called it; garbage
 * collection is its own line. A flat list of self times hides that, which is why
 * docs/performance.md uses this one.
 *
 * The profile samples wall time on the JS thread: a sample taken while the thread waited for
 * the CPU in a system call counts for that call's caller. Read it beside `/proc` CPU figures.
 */

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string };
  readonly children?: readonly number[];
}

interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

function ownerOf(url: string): string | undefined {
  const modules = url.lastIndexOf('node_modules/');
  if (modules >= 0) {
    const [scope = '', name = ''] = url.slice(modules + 'node_modules/'.length).split('/');
    return `nm:${scope.startsWith('@') ? `${scope}/${name}` : scope}`;
  }
  const dist = url.lastIndexOf('/dist/');
  if (dist >= 0) return url.slice(dist + '/dist/'.length);
  return undefined;
}

function main(): void {
  const [file, topArg] = process.argv.slice(2);
  if (file === undefined) {
    process.stderr.write('usage: node dist/scripts/profile-owners.js PROFILE.cpuprofile [TOP]\n');
    process.exit(2);
  }
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parentOf = new Map<number, number>();
  for (const node of profile.nodes)
    for (const child of node.children ?? []) parentOf.set(child, node.id);

  const totals = new Map<string, number>();
  let busy = 0;
  profile.samples.forEach((id, i) => {
    const node = byId.get(id);
    if (node === undefined || node.callFrame.functionName === '(idle)') return;
    const micros = profile.timeDeltas[i] ?? 0;
    busy += micros;
    let owner: string | undefined;
    if (node.callFrame.functionName === '(garbage collector)') owner = 'GC';
    for (
      let at: number | undefined = id;
      owner === undefined && at !== undefined;
      at = parentOf.get(at)
    ) {
      owner = ownerOf(byId.get(at)?.callFrame.url ?? '');
    }
    owner ??= '(Node, no package frame)';
    totals.set(owner, (totals.get(owner) ?? 0) + micros);
  });

  const top = Number(topArg ?? 25);
  for (const [owner, micros] of [...totals].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    process.stdout.write(`${((100 * micros) / busy).toFixed(1).padStart(5)} %  ${owner}\n`);
  }
}

main();

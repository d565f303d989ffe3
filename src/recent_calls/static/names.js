// Display names from the tenant's directory: ids in, names out (the id when none). Pure.

export function directoryMaps(directory) {
  const maps = {};
  for (const kind of ["agents", "queues", "groups", "channels"]) {
    maps[kind] = new Map((directory?.[kind] ?? []).map((entry) => [String(entry.id), entry.name]));
  }
  return maps;
}

export function nameOf(maps, kind, id) {
  return maps[kind]?.get(String(id)) ?? String(id);
}

// A response value holding several ids joined with "," ("2583,2590"), as names.
export function namesOf(maps, kind, joined) {
  const text = String(joined ?? "");
  if (!text) return "";
  return text.split(",").map((id) => nameOf(maps, kind, id.trim())).join(", ");
}

// Whether a picker's search text matches an id or its name, ignoring case.
export function matches(search, id, name) {
  const wanted = search.trim().toLowerCase();
  return !wanted || String(id).toLowerCase().includes(wanted)
    || String(name).toLowerCase().includes(wanted);
}

// Ids ordered by their names (case-insensitive), then by id.
export function byName(maps, kind, ids) {
  return [...ids].sort((a, b) => {
    const left = nameOf(maps, kind, a).toLowerCase();
    const right = nameOf(maps, kind, b).toLowerCase();
    return left < right ? -1 : left > right ? 1 : String(a) < String(b) ? -1 : 1;
  });
}

// A GGUF file written without tformer's code: the header and metadata by Hugging Face's
// serializer (@huggingface/gguf's serializeGgufMetadata), the tensor infos and data here, from
// ggml's docs/gguf.md. tests/llamacpp_judge.py loads the result into tformer.
// Usage: node gguf_write.mjs SPEC.json OUT.gguf
// SPEC: {"metadata": {key: [type, value] | [type, value, subtype]}, "tensors": [{"name",
//        "dims" (ggml order, fastest first), "file" (raw little-endian F32)}]}
// Types are GGUFValueType names: UINT32, FLOAT32, STRING, ARRAY (subtype STRING, INT32, ...).
import fs from "node:fs";
import { GGUFValueType, serializeGgufMetadata } from "@huggingface/gguf";

const [specPath, outPath] = process.argv.slice(2);
if (!specPath || !outPath) {
  console.error("usage: node gguf_write.mjs SPEC.json OUT.gguf");
  process.exit(2);
}
const spec = JSON.parse(fs.readFileSync(specPath, "utf8"));
const ALIGN = 32;
const F32 = 0; // ggml_type GGML_TYPE_F32

const typed = {
  version: { value: 3, type: GGUFValueType.UINT32 },
  tensor_count: { value: BigInt(spec.tensors.length), type: GGUFValueType.UINT64 },
  kv_count: { value: 0n, type: GGUFValueType.UINT64 }, // counted by the serializer
};
for (const [key, [type, value, subType]] of Object.entries(spec.metadata)) {
  const entry = { type: GGUFValueType[type], value };
  if (subType) entry.subType = GGUFValueType[subType];
  typed[key] = entry;
}
// alignment 1: no padding after the metadata; the tensor infos come next, then the padding.
const head = serializeGgufMetadata(typed, { alignment: 1 });

const u64 = (n) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
};
const u32 = (n) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};
const pad = (n) => Math.ceil(n / ALIGN) * ALIGN;

const infos = [];
const blobs = [];
let offset = 0;
for (const t of spec.tensors) {
  const data = fs.readFileSync(t.file);
  const n = t.dims.reduce((a, b) => a * b, 1);
  if (data.length !== n * 4) throw new Error(`${t.file}: ${data.length} bytes, ${t.name} needs ${n * 4}`);
  const name = Buffer.from(t.name, "utf8");
  infos.push(u64(name.length), name, u32(t.dims.length), ...t.dims.map(u64), u32(F32), u64(offset));
  blobs.push([offset, data]);
  offset = pad(offset + data.length);
}
const header = Buffer.concat([head, ...infos]);
const start = pad(header.length);
const out = Buffer.alloc(start + offset);
header.copy(out, 0);
for (const [off, data] of blobs) data.copy(out, start + off);
fs.writeFileSync(outPath, out);

// Binding a weights file's parameters to an rnncodec step graph (ONNX), as rnncodec.runtime does with
// ONNX Runtime's external initializers: the graphs hold no weights, each parameter is an initializer
// of the state dict's name whose data is "external"; here each gets its data (float32) written in.

const EXTERNAL = 1; // TensorProto.DataLocation.EXTERNAL
const FLOAT = 1; // TensorProto.DataType.FLOAT

function readVarint(buf, pos) {
  let value = 0, scale = 1, byte;
  do {
    byte = buf[pos++];
    value += (byte & 0x7f) * scale;
    scale *= 128;
  } while (byte & 0x80);
  return [value, pos];
}

function varint(value) {
  const out = [];
  while (value >= 128) {
    out.push((value % 128) | 0x80);
    value = Math.floor(value / 128);
  }
  out.push(value);
  return out;
}

/** The fields of a protobuf message: {no, type, raw (the whole field's bytes), value (varint) or data (bytes)}. */
function* fields(buf) {
  let pos = 0;
  while (pos < buf.length) {
    const start = pos;
    let key;
    [key, pos] = readVarint(buf, pos);
    const no = Math.floor(key / 8), type = key & 7;
    let value, data;
    if (type === 0) [value, pos] = readVarint(buf, pos);
    else if (type === 1) pos += 8;
    else if (type === 5) pos += 4;
    else if (type === 2) {
      let length;
      [length, pos] = readVarint(buf, pos);
      data = buf.subarray(pos, pos + length);
      pos += length;
    } else throw new Error(`unsupported protobuf wire type ${type}`);
    yield { no, type, raw: buf.subarray(start, pos), value, data };
  }
}

function bytesField(no, data) {
  return [Uint8Array.from([...varint(no * 8 + 2), ...varint(data.length)]), data];
}

function concat(parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

function bindTensor(tensor, lookup, bound) {
  let name = "", external = false, dataType = 0;
  const dims = [];
  for (const f of fields(tensor)) {
    if (f.no === 8) name = new TextDecoder().decode(f.data);
    else if (f.no === 14) external = f.value === EXTERNAL;
    else if (f.no === 2) dataType = f.value;
    else if (f.no === 1) {
      if (f.type === 0) dims.push(f.value);
      else for (let p = 0; p < f.data.length;) { let d; [d, p] = readVarint(f.data, p); dims.push(d); }
    }
  }
  if (!external) return tensor;
  const values = lookup(name);
  if (!values) throw new Error(`the weights have no parameter ${name}`);
  const size = dims.reduce((a, b) => a * b, 1);
  if (dataType !== FLOAT || values.length !== size) throw new Error(`parameter ${name} does not fit the graph (${values.length} values, graph ${dims.join("×")})`);
  bound.push(name);
  const parts = [];
  for (const f of fields(tensor)) if (f.no !== 13 && f.no !== 14) parts.push(f.raw);
  parts.push(...bytesField(9, new Uint8Array(values.buffer, values.byteOffset, values.byteLength)));
  return concat(parts);
}

/** The graph (ModelProto bytes) with every external initializer's data taken from `lookup(name)`
 * (a Float32Array); also its metadata props. Returns {model, bound (names), props}. */
export function bindParameters(model, lookup) {
  const bound = [], props = {};
  const parts = [];
  for (const f of fields(model)) {
    if (f.no === 7 && f.type === 2) {
      const graph = [];
      for (const g of fields(f.data)) {
        if (g.no === 5 && g.type === 2) graph.push(...bytesField(5, bindTensor(g.data, lookup, bound)));
        else graph.push(g.raw);
      }
      parts.push(...bytesField(7, concat(graph)));
    } else {
      if (f.no === 14 && f.type === 2) { // metadata_props: StringStringEntryProto
        let key = "", value = "";
        for (const e of fields(f.data)) {
          if (e.no === 1) key = new TextDecoder().decode(e.data);
          if (e.no === 2) value = new TextDecoder().decode(e.data);
        }
        props[key] = value;
      }
      parts.push(f.raw);
    }
  }
  return { model: concat(parts), bound, props };
}

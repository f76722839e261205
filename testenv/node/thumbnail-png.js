// Thumbnails for the emulators' layers (gdrive-mock.js, onedrive-mock.js), made with
// Node's zlib alone: `thumbnail(bytes, size)` reads a PNG (8-bit greyscale, grey + alpha,
// RGB or RGBA, not interlaced, as the PNG specification lays them out), scales it down
// (nearest pixel) so that neither side exceeds `size`, and writes it as an RGBA PNG. Any
// other file has no thumbnail (`null`), as a service has none of a file it cannot render.
'use strict';

const zlib = require('zlib');

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
// Channels per pixel, by colour type.
const CHANNELS = { 0: 1, 2: 3, 4: 2, 6: 4 };

// The bytes of a stored file (the emulators keep Buffers, or strings for text bodies).
function bytesOf(content) {
  if (Buffer.isBuffer(content)) return content;
  if (typeof content === 'string') return Buffer.from(content);
  return null;
}

// `{width, height, rgba}` of a PNG, or null when `bytes` is not one this reads.
function decode(bytes) {
  if (!bytes || bytes.length < 33 || !bytes.subarray(0, 8).equals(SIGNATURE)) return null;
  let at = 8;
  let header = null;
  const data = [];
  while (at + 8 <= bytes.length) {
    const length = bytes.readUInt32BE(at);
    const type = bytes.toString('latin1', at + 4, at + 8);
    const body = bytes.subarray(at + 8, at + 8 + length);
    if (body.length !== length) return null;
    if (type === 'IHDR') {
      header = {
        width: body.readUInt32BE(0), height: body.readUInt32BE(4), depth: body[8],
        colour: body[9], interlace: body[12],
      };
    } else if (type === 'IDAT') {
      data.push(body);
    } else if (type === 'IEND') {
      break;
    }
    at += 12 + length;
  }
  if (!header || header.depth !== 8 || header.interlace !== 0 || !(header.colour in CHANNELS)) return null;
  const { width, height } = header;
  if (!width || !height || width * height > 40e6) return null;
  let raw;
  try {
    raw = zlib.inflateSync(Buffer.concat(data));
  } catch (e) {
    return null;
  }
  const channels = CHANNELS[header.colour];
  const stride = width * channels;
  if (raw.length < height * (stride + 1)) return null;
  const pixels = Buffer.alloc(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? pixels[y * stride + x - channels] : 0;
      const b = y > 0 ? pixels[(y - 1) * stride + x] : 0;
      const c = x >= channels && y > 0 ? pixels[(y - 1) * stride + x - channels] : 0;
      let predicted;
      switch (filter) {
        case 0: predicted = 0; break;
        case 1: predicted = a; break;
        case 2: predicted = b; break;
        case 3: predicted = (a + b) >> 1; break;
        case 4: {
          const p = a + b - c;
          const [pa, pb, pc] = [Math.abs(p - a), Math.abs(p - b), Math.abs(p - c)];
          predicted = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
          break;
        }
        default: return null;
      }
      pixels[y * stride + x] = (line[x] + predicted) & 0xff;
    }
  }
  const rgba = Buffer.alloc(width * height * 4);
  for (let i = 0; i < width * height; i++) {
    const p = pixels.subarray(i * channels, (i + 1) * channels);
    const [r, g, b, alpha] = channels === 1 ? [p[0], p[0], p[0], 255]
      : channels === 2 ? [p[0], p[0], p[0], p[1]]
        : channels === 3 ? [p[0], p[1], p[2], 255] : [p[0], p[1], p[2], p[3]];
    rgba.set([r, g, b, alpha], i * 4);
  }
  return { width, height, rgba };
}

function chunk(type, body) {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(body.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(zlib.crc32(Buffer.concat([head.subarray(4), body])) >>> 0, 0);
  return Buffer.concat([head, body, crc]);
}

// An RGBA PNG of `image`.
function encode({ width, height, rgba }) {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 6, 0, 0, 0], 8);
  const lines = Buffer.alloc(height * (width * 4 + 1));
  for (let y = 0; y < height; y++) {
    rgba.copy(lines, y * (width * 4 + 1) + 1, y * width * 4, (y + 1) * width * 4);
  }
  return Buffer.concat([
    SIGNATURE, chunk('IHDR', header), chunk('IDAT', zlib.deflateSync(lines)), chunk('IEND', Buffer.alloc(0)),
  ]);
}

// `image` scaled down, keeping its proportions, so that neither side exceeds `size`.
function scale(image, size) {
  const factor = Math.min(1, size / Math.max(image.width, image.height));
  const width = Math.max(1, Math.round(image.width * factor));
  const height = Math.max(1, Math.round(image.height * factor));
  const rgba = Buffer.alloc(width * height * 4);
  for (let y = 0; y < height; y++) {
    const sy = Math.min(image.height - 1, Math.floor(y / factor));
    for (let x = 0; x < width; x++) {
      const sx = Math.min(image.width - 1, Math.floor(x / factor));
      image.rgba.copy(rgba, (y * width + x) * 4, (sy * image.width + sx) * 4, (sy * image.width + sx) * 4 + 4);
    }
  }
  return { width, height, rgba };
}

// The PNG thumbnail of a stored file's `content`, at most `size` pixels a side; null when
// the file is no PNG this reads.
function thumbnail(content, size) {
  const image = decode(bytesOf(content));
  return image ? encode(scale(image, size)) : null;
}

// Whether a stored file has a thumbnail, and the size of its image.
function dimensions(content) {
  const image = decode(bytesOf(content));
  return image ? { width: image.width, height: image.height } : null;
}

module.exports = { thumbnail, dimensions, bytesOf };

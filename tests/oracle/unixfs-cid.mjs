// Test oracle: prints the CID that `ipfs add --cid-version 1 --raw-leaves` gives each file named on
// the command line, one per line, computed by the JS reference importer (ipfs-unixfs-importer).
//
//   node tests/oracle/unixfs-cid.mjs FILE...
//   node tests/oracle/unixfs-cid.mjs --chunk-size 64 --max-children 3 FILE...   (small trees, for tests)
//
// Defaults are the importer settings of `ipfs add --cid-version 1 --raw-leaves`: raw leaves, CIDv1,
// fixed-size 262,144-byte chunks, balanced layout with at most 174 links per node, and a one-chunk
// file reduced to its raw leaf.
import { readFile } from 'node:fs/promises'
import { importer } from 'ipfs-unixfs-importer'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { balanced } from 'ipfs-unixfs-importer/layout'
import { BlackHoleBlockstore } from 'blockstore-core/black-hole'

function parseArgs (argv) {
  const options = { chunkSize: 262144, maxChildren: 174, files: [] }
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--chunk-size') options.chunkSize = Number(argv[++i])
    else if (argv[i] === '--max-children') options.maxChildren = Number(argv[++i])
    else options.files.push(argv[i])
  }
  return options
}

async function cidOf (bytes, options) {
  const entries = importer([{ content: bytes }], new BlackHoleBlockstore(), {
    cidVersion: 1,
    rawLeaves: true,
    reduceSingleLeafToSelf: true,
    chunker: fixedSize({ chunkSize: options.chunkSize }),
    layout: balanced({ maxChildrenPerNode: options.maxChildren })
  })
  let last
  for await (const entry of entries) last = entry
  return last.cid.toString()
}

const options = parseArgs(process.argv.slice(2))
for (const file of options.files) {
  console.log(await cidOf(await readFile(file), options))
}

#!/usr/bin/env node
/*
 * An independent verifier for our credentials, built on Digital Bazaar's libraries
 * (@digitalbazaar/vc, data-integrity, eddsa-rdfc-2022-cryptosuite, ed25519-multikey).
 *
 * It runs fully offline: the document loader serves only the JSON-LD contexts bundled with the
 * Python package (credentials/contexts, checked against the same SHA-256 pins), resolves did:key
 * locally and did:web only from did.json files given on the command line. Anything else is an error.
 *
 * usage: node verify.mjs [--did-document FILE]... [--status-list FILE]... [--now ISO] CREDENTIAL...
 * prints a JSON array [{file, verified, errors}], exits 0 if every credential verified, 1 if not,
 * 2 on a usage or setup error.
 */
import {createHash} from 'node:crypto';
import {readFileSync} from 'node:fs';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {gunzipSync} from 'node:zlib';

import * as vc from '@digitalbazaar/vc';
import * as Ed25519Multikey from '@digitalbazaar/ed25519-multikey';
import {DataIntegrityProof} from '@digitalbazaar/data-integrity';
import {cryptosuite as eddsaRdfc2022CryptoSuite} from
  '@digitalbazaar/eddsa-rdfc-2022-cryptosuite';

const here = path.dirname(fileURLToPath(import.meta.url));
// The verifier may run from an install directory outside the checkout (its node_modules live
// there, never in the tracked tree); CREDENTIAL_CONTEXT_DIR then names the bundled contexts.
const CONTEXT_DIR = process.env.CREDENTIAL_CONTEXT_DIR ?
  path.resolve(process.env.CREDENTIAL_CONTEXT_DIR) :
  path.resolve(here, '../../credentials/contexts');
const DID_V1 = 'https://www.w3.org/ns/did/v1';
const MULTIKEY_V1 = 'https://w3id.org/security/multikey/v1';

// The same pins as credentials/contexts.py.
const PINNED = {
  'https://www.w3.org/ns/credentials/v2': [
    'credentials-v2.jsonld',
    '59955ced6697d61e03f2b2556febe5308ab16842846f5b586d7f1f7adec92734'],
  'https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json': [
    'ob-context-3.0.3.json',
    'ef2fa9c7846dce233cc166b43639027278be4ee44f00bb1d45c75de2dd0cd761'],
  'https://purl.imsglobal.org/spec/ob/v3p0/extensions.json': [
    'ob-v3p0-extensions.json',
    '146f85aa16effd7ca1da8056eb443f53ce1eca8a34186cb062832c0a97d889c3'],
};

function usage(message) {
  process.stderr.write(`verify.mjs: ${message}\n`);
  process.exit(2);
}

function loadContexts() {
  const contexts = new Map();
  for(const [url, [file, sha256]] of Object.entries(PINNED)) {
    const bytes = readFileSync(path.join(CONTEXT_DIR, file));
    const actual = createHash('sha256').update(bytes).digest('hex');
    if(actual !== sha256) {
      usage(`context ${url} (${file}) has sha256 ${actual}, pinned ${sha256}`);
    }
    contexts.set(url, JSON.parse(bytes.toString('utf8')));
  }
  return contexts;
}

function parseArgs(argv) {
  const options = {didDocuments: [], statusLists: [], now: undefined, files: []};
  for(let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      if(i + 1 >= argv.length) {
        usage(`${arg} needs a value`);
      }
      return argv[++i];
    };
    if(arg === '--did-document') {
      options.didDocuments.push(JSON.parse(readFileSync(value(), 'utf8')));
    } else if(arg === '--status-list') {
      options.statusLists.push(JSON.parse(readFileSync(value(), 'utf8')));
    } else if(arg === '--now') {
      options.now = value();
    } else if(arg.startsWith('--')) {
      usage(`unknown option ${arg}`);
    } else {
      options.files.push(arg);
    }
  }
  if(options.files.length === 0) {
    usage('no credential given');
  }
  return options;
}

function didKeyDocument(did) {
  const multibase = did.slice('did:key:'.length);
  const vm = {
    '@context': MULTIKEY_V1,
    id: `${did}#${multibase}`,
    type: 'Multikey',
    controller: did,
    publicKeyMultibase: multibase
  };
  return {
    '@context': [DID_V1, MULTIKEY_V1],
    id: did,
    verificationMethod: [vm],
    assertionMethod: [vm.id],
    authentication: [vm.id]
  };
}

function makeDocumentLoader(contexts, didDocuments) {
  const dids = new Map(didDocuments.map(doc => [doc.id, doc]));
  return async url => {
    if(contexts.has(url)) {
      return {contextUrl: null, documentUrl: url, document: contexts.get(url)};
    }
    if(url.startsWith('did:')) {
      const [did] = url.split('#');
      let document;
      if(did.startsWith('did:key:')) {
        document = didKeyDocument(did);
        await Ed25519Multikey.from(document.verificationMethod[0]); // a real Ed25519 key?
      } else {
        document = dids.get(did);
      }
      if(!document) {
        throw new Error(`offline: no DID document for "${did}"`);
      }
      if(url === did) {
        return {contextUrl: null, documentUrl: url, document};
      }
      const absolute = id => (id.startsWith('#') ? did + id : id);
      const vm = (document.verificationMethod || [])
        .find(method => absolute(method.id) === url);
      if(!vm) {
        throw new Error(`"${url}" is not a verification method of ${did}`);
      }
      return {
        contextUrl: null,
        documentUrl: url,
        document: {'@context': MULTIKEY_V1, ...vm, id: url}
      };
    }
    throw new Error(`offline: refusing to load "${url}"`);
  };
}

function readBit(encodedList, index) {
  if(!encodedList.startsWith('u')) {
    throw new Error('encodedList is not multibase base64url');
  }
  const bits = gunzipSync(Buffer.from(encodedList.slice(1), 'base64url'));
  if(index < 0 || index >= bits.length * 8) {
    throw new Error(`statusListIndex ${index} is outside the list`);
  }
  return (bits[index >> 3] & (0x80 >> (index % 8))) !== 0;
}

function makeCheckStatus(statusLists, suite, documentLoader) {
  return async ({credential}) => {
    const entry = credential.credentialStatus;
    const list = statusLists.find(l => l.id === entry.statusListCredential) ||
      (statusLists.length === 1 ? statusLists[0] : undefined);
    if(!list) {
      // The test decides whether status matters; without a list it is not checked here.
      return {verified: true};
    }
    const listResult = await vc.verifyCredential({
      credential: list, suite, documentLoader,
      checkStatus: async () => ({verified: true})
    });
    if(!listResult.verified) {
      return {verified: false, error: new Error('status list does not verify')};
    }
    if(list.credentialSubject.statusPurpose !== entry.statusPurpose) {
      return {verified: false, error: new Error('status purpose mismatch')};
    }
    const set = readBit(list.credentialSubject.encodedList,
      Number.parseInt(entry.statusListIndex, 10));
    return set ?
      {verified: false, error: new Error(`credential ${entry.statusPurpose} bit is set`)} :
      {verified: true};
  };
}

function messages(error, out = []) {
  if(!error) {
    return out;
  }
  if(Array.isArray(error)) {
    error.forEach(e => messages(e, out));
    return out;
  }
  let text = error.message || String(error);
  if(error.details && error.details.event) {
    const event = error.details.event;
    text += ` (${event.code}: ${JSON.stringify(event.details || {})})`;
  }
  out.push(text);
  if(error.errors) {
    messages(error.errors, out);
  }
  if(error.cause) {
    messages(error.cause, out);
  }
  return out;
}

function collectErrors(result) {
  const errors = messages(result.error);
  for(const item of result.results || []) {
    if(!item.verified) {
      messages(item.error, errors);
    }
    if(item.purposeResult && !item.purposeResult.valid) {
      messages(item.purposeResult.error, errors);
    }
  }
  if(result.statusResult && !result.statusResult.verified) {
    messages(result.statusResult.error, errors);
  }
  return [...new Set(errors)];
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  const contexts = loadContexts();
  const documentLoader = makeDocumentLoader(contexts, options.didDocuments);
  const suite = new DataIntegrityProof({cryptosuite: eddsaRdfc2022CryptoSuite});
  const checkStatus = makeCheckStatus(options.statusLists, suite, documentLoader);
  const results = [];
  for(const file of options.files) {
    let credential;
    try {
      credential = JSON.parse(readFileSync(file, 'utf8'));
    } catch(e) {
      results.push({file, verified: false, errors: [`unreadable: ${e.message}`]});
      continue;
    }
    try {
      const result = await vc.verifyCredential({
        credential, suite, documentLoader, checkStatus, now: options.now
      });
      results.push({file, verified: result.verified === true,
        errors: result.verified ? [] : collectErrors(result)});
    } catch(e) {
      results.push({file, verified: false, errors: messages(e)});
    }
  }
  process.stdout.write(JSON.stringify(results, null, 2) + '\n');
  process.exit(results.every(r => r.verified) ? 0 : 1);
}

main().catch(e => usage(e.stack || String(e)));

/*
 * appaudit Frida agent: ONE agent, driven by data.
 *
 * The Python side (audit/runtime/frida_session.py) prepends the Java bridge from the frida-tools wheel when the
 * target may run Java, loads this script into the suspended process and calls rpc `init(config)` with the hook
 * list built from rules/apis.yaml. The Java part installs itself before the app's code runs (HotSpot: when
 * JNI_CreateJavaVM returns; ART: Java.perform's application-loaded point) and emits `java_ready`; `hookJava()`
 * is only for a VM found later. Every observation leaves as send({type: ...}) and is written to
 * frida-events.jsonl by the host, one line per event, as it arrives.
 *
 * Event types:
 *   api        a hooked Java API returned: api id, data type, value (identifier / location), stack, thread, time
 *   connect    connect(2) on an IP socket: fd, socket type, peer, local address after the call, result, backtrace;
 *              `via: socks5` and `conn` (the id the proxy stores on the flow) when redirected to the run's proxy
 *   redirect_failed  a TCP connection that could not be redirected: refused, never sent directly
 *   escape     traffic that leaves uncaptured (UDP other than DNS): the run is partial
 *   dns        getaddrinfo(3): host and the addresses it resolved to
 *   ssl_write  SSL_write / SSL_write_ex: fd, local/peer tuple, bytes, first line of plaintext, backtrace
 *   ssl_read   SSL_read / SSL_read_ex: fd, tuple, bytes
 *   request    a Java call starting an HTTP request (hooks/network.yaml): url, caller's stack, thread
 *   quic_blocked  a UDP datagram or connect to port 443 refused so the app falls back to TCP (when enabled)
 *   jvm_thread_detached  HotSpot's launcher is about to destroy the VM: the host should unload (see below)
 *   exit       the process called exit()/_exit() with this status (one that ends without it crashed)
 *   java_ready the Java hooks are in (when: startup | application | attach) with the state of each hook
 *   unpin      a pinning/trust check patched (target class or method; via: signature when an obfuscated OkHttp
 *              CertificatePinner was recognised by its shape, via: fallback when found by its throw)
 *   error      a hook threw; the call itself went through unchanged
 */
'use strict';

const config = { apis: [], native: true, java: false, blockQuic: false, unpin: false, caPem: null, maxFrames: 24,
                 backtraceFrames: 8, redirect: null, javaProxy: null, maxEventsPerApi: 200,
                 unpinFallback: true };
const inHook = {};          // thread id -> depth: our own calls (getLatitude...) must not record themselves
const inRequest = {};       // thread id -> inside a reported request call: nested hooked calls are the same request
const nativeHooked = [];
const nativeFailed = [];
const sslModulesSeen = {};
const sslFunctionsHooked = {};

function now() { return Date.now() / 1000; }

function emit(event) {
  event.time = now();
  event.tid = Process.getCurrentThreadId();
  send(event);
}

// ---------------------------------------------------------------------------------------------------------
// Native: sockets, DNS, TLS plaintext
// ---------------------------------------------------------------------------------------------------------
const isBionic = Process.platform === 'linux' && Process.findModuleByName('libc.so') !== null;
const AF_INET = 2;
const AF_INET6 = 10;
const SOCK_DGRAM = 2;

function libcExport(name) {
  const libc = Process.findModuleByName(isBionic ? 'libc.so' : 'libc.so.6');
  const found = libc !== null ? libc.findExportByName(name) : null;
  return found !== null ? found : Module.findGlobalExportByName(name);
}

function nativeFn(name, ret, args) {
  const address = libcExport(name);
  return address === null ? null : new NativeFunction(address, ret, args);
}

const getsockname = nativeFn('getsockname', 'int', ['int', 'pointer', 'pointer']);
const getpeername = nativeFn('getpeername', 'int', ['int', 'pointer', 'pointer']);
const getsockopt = nativeFn('getsockopt', 'int', ['int', 'int', 'int', 'pointer', 'pointer']);
const errnoLocation = nativeFn(isBionic ? '__errno' : '__errno_location', 'pointer', []);

function parseSockaddr(sa) {
  if (sa.isNull()) return null;
  const family = sa.readU16();
  if (family === AF_INET) {
    const port = (sa.add(2).readU8() << 8) | sa.add(3).readU8();
    const b = sa.add(4).readByteArray(4);
    return { family: 'ipv4', ip: Array.from(new Uint8Array(b)).join('.'), port: port };
  }
  if (family === AF_INET6) {
    const port = (sa.add(2).readU8() << 8) | sa.add(3).readU8();
    const bytes = new Uint8Array(sa.add(8).readByteArray(16));
    const groups = [];
    for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] << 8) | bytes[i + 1]).toString(16));
    let ip = groups.join(':');
    if (ip.startsWith('0:0:0:0:0:ffff:')) {      // v4-mapped: report the v4 form the proxy logs show
      ip = [bytes[12], bytes[13], bytes[14], bytes[15]].join('.');
      return { family: 'ipv4', ip: ip, port: port };
    }
    return { family: 'ipv6', ip: ip, port: port };
  }
  return null;
}

function socketAddress(fn, fd) {
  if (fn === null || fd < 0) return null;
  const buf = Memory.alloc(128);
  const len = Memory.alloc(4);
  len.writeU32(128);
  return fn(fd, buf, len) === 0 ? parseSockaddr(buf) : null;
}

function socketType(fd) {
  if (getsockopt === null) return null;
  const value = Memory.alloc(4);
  const len = Memory.alloc(4);
  len.writeU32(4);
  // SOL_SOCKET/SO_TYPE are 1/3 on Linux and Android.
  return getsockopt(fd, 1, 3, value, len) === 0 ? value.readS32() : null;
}

function backtrace(context) {
  try {
    return Thread.backtrace(context, Backtracer.FUZZY).slice(0, config.backtraceFrames)
      .map(address => DebugSymbol.fromAddress(address).toString());
  } catch (e) {
    return [];
  }
}

function setErrno(value) {
  if (errnoLocation !== null) errnoLocation().writeS32(value);
}

// One replacement of connect(2) does everything the agent does to a connection, in this order: the QUIC block
// (UDP 443 refused so clients fall back to TCP), the redirect of TCP to the run's SOCKS5 listener (so code that
// ignores proxy settings is captured too, and only this app's processes are), and the `connect` event. UDP to
// anything but DNS cannot be proxied: it is recorded as an `escape` and the run is marked partial.
const ECONNREFUSED = 111;
const O_NONBLOCK = Process.platform === 'linux' ? 0x800 : 0x4;
const F_GETFL = 3;
const F_SETFL = 4;
const MSG_NOSIGNAL = Process.platform === 'linux' ? 0x4000 : 0;
const fcntl = nativeFn('fcntl', 'int', ['int', 'int', 'int']);
const sendFn = nativeFn('send', 'long', ['int', 'pointer', 'size_t', 'int']);
const recvFn = nativeFn('recv', 'long', ['int', 'pointer', 'size_t', 'int']);
const resolvedHosts = new Map();     // ip -> the name it was resolved from (getaddrinfo), for the SOCKS request
const MAX_RESOLVED = 4096;
let connectionCounter = 0;

function isLoopback(peer) {
  return peer.ip.startsWith('127.') || peer.ip === '0:0:0:0:0:0:0:1' || peer.ip === '::1';
}

function shouldRedirect(peer) {
  const redirect = config.redirect;
  if (!redirect) return false;
  if (isLoopback(peer)) {
    if (redirect.exclude.indexOf(peer.port) >= 0) return false;    // the run's own proxy listeners
    return redirect.loopback;                                        // on a device, loopback stays on the device
  }
  return true;
}

function writeAll(fd, bytes) {
  const buf = Memory.alloc(bytes.length);
  buf.writeByteArray(bytes);
  let done = 0;
  while (done < bytes.length) {
    const n = sendFn(fd, buf.add(done), bytes.length - done, MSG_NOSIGNAL).valueOf();
    if (n <= 0) throw new Error('socks: send failed');
    done += n;
  }
}

function readExactly(fd, count) {
  const buf = Memory.alloc(count);
  let done = 0;
  while (done < count) {
    const n = recvFn(fd, buf.add(done), count - done, 0).valueOf();
    if (n <= 0) throw new Error('socks: connection closed by the proxy');
    done += n;
  }
  return new Uint8Array(buf.readByteArray(count));
}

function asciiBytes(text) {
  const out = [];
  for (let i = 0; i < text.length && i < 255; i++) out.push(text.charCodeAt(i) & 0xff);
  return out;
}

function proxySockaddr(family, port) {
  // The listener is 127.0.0.1 (the host's loopback, or the device's through `adb reverse`): for an IPv6 socket
  // its v4-mapped form.
  if (family === AF_INET6) {
    const sa = Memory.alloc(28);
    sa.writeU16(AF_INET6);
    sa.add(2).writeByteArray([port >> 8, port & 0xff]);
    sa.add(8).writeByteArray([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1]);
    return { sa: sa, len: 28 };
  }
  const sa = Memory.alloc(16);
  sa.writeU16(AF_INET);
  sa.add(2).writeByteArray([port >> 8, port & 0xff, 127, 0, 0, 1]);
  return { sa: sa, len: 16 };
}

// SOCKS5 (RFC 1928) with username/password (RFC 1929): the user is the run's token, so no other process can
// put traffic into the run, and the password names the connection, which the proxy stores on the flow: the
// join of a flow to the agent's `connect` event then holds through `adb reverse` (which hides client ports).
function socksConnect(original, fd, sa, peer, connection) {
  const family = sa.readU16();
  const proxy = proxySockaddr(family, config.redirect.port);
  const flags = fcntl(fd, F_GETFL, 0);
  const nonBlocking = flags !== -1 && (flags & O_NONBLOCK) !== 0;
  if (nonBlocking) fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);   // a short blocking handshake on loopback
  try {
    if (original(fd, proxy.sa, proxy.len) !== 0) throw new Error('socks: the run proxy is not reachable');
    writeAll(fd, [5, 1, 2]);
    let reply = readExactly(fd, 2);
    if (reply[0] !== 5 || reply[1] !== 2) throw new Error('socks: the proxy refused username/password auth');
    const user = asciiBytes(config.redirect.token);
    const pass = asciiBytes(connection);
    writeAll(fd, [1, user.length].concat(user, [pass.length], pass));
    reply = readExactly(fd, 2);
    if (reply[1] !== 0) throw new Error('socks: the proxy rejected the run token');
    const host = resolvedHosts.get(peer.ip);
    let address;
    if (host !== undefined && host !== peer.ip) {
      const name = asciiBytes(host);
      address = [3, name.length].concat(name);
    } else if (peer.family === 'ipv4') {
      address = [1].concat(peer.ip.split('.').map(x => parseInt(x, 10)));
    } else {
      address = [4].concat(Array.from(new Uint8Array(sa.add(8).readByteArray(16))));
    }
    writeAll(fd, [5, 1, 0].concat(address, [peer.port >> 8, peer.port & 0xff]));
    reply = readExactly(fd, 4);
    if (reply[1] !== 0) throw new Error('socks: the proxy could not connect (reply ' + reply[1] + ')');
    const rest = reply[3] === 1 ? 6 : reply[3] === 4 ? 18 : readExactly(fd, 1)[0] + 2;
    readExactly(fd, rest);
  } finally {
    if (nonBlocking) fcntl(fd, F_SETFL, flags);
  }
}

function refuse(invocation) {
  // Frida restores the thread's errno after a replacement returns: set it through the invocation.
  invocation.errno = ECONNREFUSED;
  setErrno(ECONNREFUSED);
  return -1;
}

function hookConnect() {
  const address = libcExport('connect');
  if (address === null) throw new Error('no connect export');
  const original = new NativeFunction(address, 'int', ['int', 'pointer', 'int']);
  const replacement = new NativeCallback(function (fd, sa, len) {
    const peer = sa.isNull() ? null : parseSockaddr(sa);
    if (peer === null) return original(fd, sa, len);           // AF_UNIX and friends: not network traffic
    const udp = socketType(fd) === SOCK_DGRAM;
    const bt = backtrace(this.context);
    if (udp && config.blockQuic && peer.port === 443) {
      emit({ type: 'quic_blocked', fd: fd, peer: peer, via: 'connect' });
      return refuse(this);
    }
    const event = { type: 'connect', fd: fd, sock_type: udp ? 'udp' : 'tcp', peer: peer, backtrace: bt };
    let result;
    if (!udp && shouldRedirect(peer)) {
      const connection = Process.id + '-' + (++connectionCounter);
      event.via = 'socks5';
      event.conn = connection;
      try {
        socksConnect(original, fd, sa, peer, connection);
        result = 0;
        event.errno = 0;
      } catch (e) {
        // Never let it through directly: a connection that cannot be captured is refused and recorded.
        emit({ type: 'redirect_failed', fd: fd, peer: peer, conn: connection, reason: String(e.message || e) });
        result = refuse(this);
        event.errno = ECONNREFUSED;
      }
    } else {
      result = original(fd, sa, len);
      const errno = result === 0 ? 0 : errnoLocation().readS32();
      if (result !== 0) this.errno = errno;                      // EINPROGRESS must reach the caller
      event.errno = errno;
      if (udp && result === 0 && escapes(peer)) {
        emit({ type: 'escape', fd: fd, sock_type: 'udp', peer: peer, via: 'connect', reason: 'UDP is not proxied',
               backtrace: bt });
      }
    }
    event.result = result;
    event.local = socketAddress(getsockname, fd);
    emit(event);
    return result;
  }, 'int', ['int', 'pointer', 'int']);
  Interceptor.replace(address, replacement);
  nativeHooked.push(config.redirect ? 'connect:socks5' : 'connect');
}

// UDP that leaves the app uncaptured: anything but DNS (port 53); loopback counts only where the run redirects
// loopback too (the host, where the test servers live).
function escapes(peer) {
  return config.redirect !== null && peer.port !== 53 && (!isLoopback(peer) || config.redirect.loopback);
}

const escapedPeers = {};

// sendto(2) without connect: the QUIC block, and the first datagram to each peer recorded as an escape.
function hookSendto() {
  const address = libcExport('sendto');
  if (address === null) throw new Error('no sendto export');
  const original = new NativeFunction(address, 'int', ['int', 'pointer', 'size_t', 'int', 'pointer', 'int']);
  Interceptor.replace(address, new NativeCallback(function (fd, buf, n, flags, sa, len) {
    const peer = sa.isNull() ? null : parseSockaddr(sa);
    const udp = peer !== null && socketType(fd) === SOCK_DGRAM;
    if (udp && config.blockQuic && peer.port === 443) {
      emit({ type: 'quic_blocked', fd: fd, peer: peer, via: 'sendto' });
      return refuse(this);
    }
    const result = original(fd, buf, n, flags, sa, len);
    if (result < 0) this.errno = errnoLocation().readS32();
    else if (udp && escapes(peer) && !escapedPeers[peer.ip + ':' + peer.port]) {
      escapedPeers[peer.ip + ':' + peer.port] = true;
      emit({ type: 'escape', fd: fd, sock_type: 'udp', peer: peer, via: 'sendto', reason: 'UDP is not proxied',
             backtrace: backtrace(this.context) });
    }
    return result;
  }, 'int', ['int', 'pointer', 'size_t', 'int', 'pointer', 'int']));
  nativeHooked.push(config.blockQuic ? 'sendto:quic-block' : 'sendto');
}

// getaddrinfo(3), and on Android android_getaddrinfofornet, which Java's InetAddress uses instead: the names
// resolved (for `dns` events and for the SOCKS request, which then carries the name rather than the address).
function hookGetaddrinfo() {
  const plain = libcExport('getaddrinfo');
  if (plain === null) throw new Error('no getaddrinfo export');
  attachResolver(plain, 3);
  const forNet = isBionic ? libcExport('android_getaddrinfofornet') : null;
  if (forNet !== null) isolated('android_getaddrinfofornet', () => attachResolver(forNet, 5));
}

function attachResolver(address, resultArg) {
  // struct addrinfo: glibc puts ai_addr before ai_canonname, bionic (BSD layout) after it.
  const p = Process.pointerSize;
  const firstPointer = 16 + p;    // four ints, socklen_t, padded to pointer alignment
  const offAddr = isBionic ? firstPointer + p : firstPointer;
  const offNext = firstPointer + 2 * p;
  Interceptor.attach(address, {
    onEnter(args) {
      this.host = args[0].isNull() ? null : args[0].readUtf8String();
      this.res = args[resultArg];
    },
    onLeave(retval) {
      if (this.host === null) return;
      const addresses = [];
      if (retval.toInt32() === 0) {
        let node = this.res.readPointer();
        for (let i = 0; !node.isNull() && i < 32; i++) {
          const sa = parseSockaddr(node.add(offAddr).readPointer());
          if (sa !== null && addresses.indexOf(sa.ip) < 0) addresses.push(sa.ip);
          node = node.add(offNext).readPointer();
        }
      }
      if (resolvedHosts.size > MAX_RESOLVED) resolvedHosts.clear();
      addresses.forEach(ip => resolvedHosts.set(ip, this.host));
      emit({ type: 'dns', host: this.host, result: retval.toInt32(), addresses: addresses });
    }
  });
  nativeHooked.push(resultArg === 3 ? 'getaddrinfo' : 'android_getaddrinfofornet');
}

function firstLine(buf, n) {
  const length = Math.min(n, 512);
  if (length <= 0) return null;
  const bytes = new Uint8Array(buf.readByteArray(length));
  let text = '';
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i];
    if (c === 13 || c === 10) break;
    if (c < 32 || c > 126) return null;       // binary (HTTP/2 frames...): no preview
    text += String.fromCharCode(c);
  }
  return text.slice(0, 200);
}

function hookSslModule(module) {
  if (sslModulesSeen[module.path]) return;
  const write = module.findExportByName('SSL_write');
  if (write === null) return;
  sslModulesSeen[module.path] = true;
  // libcurl and Python's _ssl resolve libssl's symbols too: hook (and name) the library that defines them.
  const owner = Process.findModuleByAddress(write);
  if (owner !== null && owner.path !== module.path) {
    hookSslModule(owner);
    return;
  }
  const getFdAddress = module.findExportByName('SSL_get_fd');
  const getFd = getFdAddress === null ? null : new NativeFunction(getFdAddress, 'int', ['pointer']);
  const tuple = ssl => {
    const fd = getFd === null ? -1 : getFd(ssl);
    return { fd: fd, local: socketAddress(getsockname, fd), peer: socketAddress(getpeername, fd) };
  };
  // A module may re-export libssl's symbols (Python's _ssl): hook each function once, by address.
  const attachOnce = (address, callbacks) => {
    const key = address.toString();
    if (sslFunctionsHooked[key]) return;
    sslFunctionsHooked[key] = true;
    Interceptor.attach(address, callbacks);
  };
  const onWrite = (name, sizeOf) => ({
    onEnter(args) {
      const n = sizeOf(args);
      const t = tuple(args[0]);
      emit({ type: 'ssl_write', api: name, module: module.name, fd: t.fd, local: t.local, peer: t.peer, bytes: n,
             first_line: firstLine(args[1], n), backtrace: backtrace(this.context) });
    }
  });
  attachOnce(write, onWrite('SSL_write', args => args[2].toInt32()));
  const writeEx = module.findExportByName('SSL_write_ex');
  if (writeEx !== null) attachOnce(writeEx, onWrite('SSL_write_ex', args => args[2].toInt32()));
  const read = module.findExportByName('SSL_read');
  if (read !== null) {
    attachOnce(read, {
      onEnter(args) { this.ssl = args[0]; },
      onLeave(retval) {
        const n = retval.toInt32();
        if (n > 0) {
          const t = tuple(this.ssl);
          emit({ type: 'ssl_read', api: 'SSL_read', module: module.name, fd: t.fd, local: t.local, peer: t.peer,
                 bytes: n });
        }
      }
    });
  }
  const readEx = module.findExportByName('SSL_read_ex');
  if (readEx !== null) {
    attachOnce(readEx, {
      onEnter(args) { this.ssl = args[0]; this.readBytes = args[3]; },
      onLeave(retval) {
        if (retval.toInt32() === 1 && !this.readBytes.isNull()) {
          const t = tuple(this.ssl);
          emit({ type: 'ssl_read', api: 'SSL_read_ex', module: module.name, fd: t.fd, local: t.local,
                 peer: t.peer, bytes: Process.pointerSize === 8 ? this.readBytes.readU64().toNumber()
                                                                : this.readBytes.readU32() });
        }
      }
    });
  }
  nativeHooked.push('ssl:' + module.name);
}

// Each native hook stands alone: one that cannot be installed (a missing export, a stripped library) is
// recorded with its reason and the others go in anyway.
function isolated(name, fn) {
  try {
    fn();
  } catch (e) {
    nativeFailed.push({ hook: name, reason: String(e.message || e) });
  }
}

// exit()/_exit(): a process that ends without them was killed by a signal or crashed (the run is incomplete).
let exitReported = false;

function hookExit() {
  for (const name of ['exit', '_exit']) {
    const address = libcExport(name);
    if (address === null) continue;
    Interceptor.attach(address, {
      onEnter(args) {
        if (exitReported) return;
        exitReported = true;
        emit({ type: 'exit', via: name, status: args[0].toInt32() });
        // The process ends right after this: wait for the host's acknowledgement, or the message can be lost
        // and a clean exit would read as a crash.
        recv('exit_ack', () => {}).wait();
      }
    });
  }
  nativeHooked.push('exit');
}

function hookNative() {
  isolated('exit', hookExit);
  if (config.native || config.redirect || config.blockQuic) isolated('connect', hookConnect);
  if (config.blockQuic || config.redirect) isolated('sendto', hookSendto);
  if (!config.native) return;
  isolated('getaddrinfo', hookGetaddrinfo);
  // libssl may be loaded later and privately (Python's _ssl, curl's libcurl): watch module loads.
  Process.enumerateModules().forEach(m => isolated('ssl:' + m.name, () => hookSslModule(m)));
  Process.attachModuleObserver({ onAdded(module) { isolated('ssl:' + module.name, () => hookSslModule(module)); } });
}

// ---------------------------------------------------------------------------------------------------------
// Java: the API list from rules/apis.yaml
// ---------------------------------------------------------------------------------------------------------
function jniSignature(overload) {
  return '(' + overload.argumentTypes.map(t => t.name).join('') + ')' + overload.returnType.name;
}

function javaStack() {
  const Thread = Java.use('java.lang.Thread');
  const frames = Thread.currentThread().getStackTrace();
  const out = [];
  // frames[0] is Thread.getStackTrace itself.
  for (let i = 1; i < frames.length && out.length < config.maxFrames; i++) out.push(frames[i].toString());
  return out;
}

function threadName() {
  return Java.use('java.lang.Thread').currentThread().getName();
}

function describeReturn(api, value) {
  if (value === null || value === undefined) return null;
  if (api.returns === 'identifier') return String(value);
  if (api.returns === 'location') {
    if (typeof value === 'number') return value;      // Location.getLatitude() itself: one coordinate
    return { lat: Number(value.getLatitude()), lon: Number(value.getLongitude()) };
  }
  return null;
}

function argsMatch(api, args) {
  if (!api.args_any || api.args_any.length === 0) return true;
  for (const a of args) {
    let text = null;
    if (typeof a === 'string') {
      text = a;
    } else if (a !== null && typeof a === 'object' && a.$className !== undefined) {
      try { text = a.toString(); } catch (e) { text = null; }   // android.net.Uri and the like
    }
    if (text === null) continue;
    for (const prefix of api.args_any) if (text.startsWith(prefix)) return true;
  }
  return false;
}

// Noise control: a hook that fires in a loop (TimeZone.getDefault, a getter polled by a UI) reports each distinct
// (api, value, stack) once; repeats are counted, and past `maxEventsPerApi` distinct events an API is only
// counted. Both counts go to run.json, and dropped events make the run partial.
const seenEvents = new Map();       // key -> repeats
const eventsPerApi = {};
const droppedPerApi = {};

function admit(api, value, stack) {
  const key = api + '\u0000' + JSON.stringify(value) + '\u0000' + stack.join('\u0001');
  const repeats = seenEvents.get(key);
  if (repeats !== undefined) {
    seenEvents.set(key, repeats + 1);
    return false;
  }
  if ((eventsPerApi[api] || 0) >= config.maxEventsPerApi) {
    droppedPerApi[api] = (droppedPerApi[api] || 0) + 1;
    return false;
  }
  eventsPerApi[api] = (eventsPerApi[api] || 0) + 1;
  seenEvents.set(key, 0);
  return true;
}

function repeatCounts() {
  const out = {};
  seenEvents.forEach((repeats, key) => {
    if (repeats > 0) {
      const api = key.split('\u0000', 1)[0];
      out[api] = (out[api] || 0) + repeats;
    }
  });
  return out;
}

// Several rules may name one method (getLastKnownLocation -> location.last_known and location.precise): a
// method gets one implementation, which reports every rule whose signature and args_any match the call.
// Request entries (hooks/network.yaml) report the URL a call is about to fetch, with the caller's stack,
// before the call; the traffic stage joins them to the proxied flow by URL and time.
// The re-entrancy mark is set before the original runs: an overload that calls another overload of the same
// method (getString(a, b) -> getString(a, b, c)) is one call, reported once, at the outermost level.
function installOverloads(group, wrapper, declaredOnly) {
  const method = wrapper[group.method];
  if (method === undefined) throw new Error('no method ' + group.method);
  const covered = {};
  const className = wrapper.$className;
  for (const overload of method.overloads) {
    if (declaredOnly && overload.holder.$className !== className) continue;   // inherited: hooked where declared
    if (abstractOverload(overload)) continue;
    const signature = jniSignature(overload);
    const entries = group.apis.filter(a => !a.signature || a.signature === signature);
    if (entries.length === 0) continue;
    const hookKey = className + '#' + group.method + signature;
    if (hookedOverloads[hookKey]) {
      entries.forEach(a => { covered[a.id] = true; });
      continue;
    }
    const apis = entries.filter(a => a.kind !== 'request');
    const requests = entries.filter(a => a.kind === 'request');
    const groupKey = group.class + '#' + group.method;
    overload.implementation = function () {
      const args = Array.prototype.slice.call(arguments);
      const tid = Process.getCurrentThreadId();
      const active = inGroup[tid] || (inGroup[tid] = {});
      const outermost = !active[groupKey] && !inHook[tid];
      if (!outermost) return overload.apply(this, args);
      active[groupKey] = true;
      // One request is reported once, at the outermost hooked call (send -> sendAsync -> sendAsync).
      const outerRequest = requests.length > 0 && !inRequest[tid];
      if (outerRequest) {
        inHook[tid] = 1;
        try {
          const stack = javaStack();
          const thread = threadName();
          for (const entry of requests) {
            emit({ type: 'request', api: entry.id, class: entry.class, method: entry.method,
                   url: evaluateUrl(entry.url, this, args), stack: stack, thread: thread });
          }
        } catch (e) {
          emit({ type: 'error', where: group.class + '.' + group.method, message: String(e) });
        } finally {
          delete inHook[tid];
        }
        inRequest[tid] = 1;
      }
      let result;
      try {
        result = overload.apply(this, args);
      } finally {
        delete active[groupKey];
        if (outerRequest) delete inRequest[tid];
      }
      if (apis.length === 0) return result;
      inHook[tid] = 1;
      try {
        const matching = apis.filter(a => argsMatch(a, args));
        if (matching.length > 0) {
          const stack = javaStack();
          let thread = null;
          const values = {};
          for (const api of matching) {
            if (!(api.returns in values)) values[api.returns] = describeReturn(api, result);
            if (!admit(api.id, values[api.returns], stack)) continue;
            if (thread === null) thread = threadName();
            emit({ type: 'api', api: api.id, data_type: api.data_type, class: api.class, method: api.method,
                   signature: signature, value: values[api.returns], stack: stack, thread: thread,
                   implementation: className !== group.class ? className : undefined });
          }
        }
      } catch (e) {
        emit({ type: 'error', where: group.class + '.' + group.method, message: String(e) });
      } finally {
        delete inHook[tid];
      }
      return result;
    };
    hookedOverloads[hookKey] = true;
    entries.forEach(a => { covered[a.id] = true; });
  }
  return covered;
}

const ACC_ABSTRACT = 0x400;

function abstractOverload(overload) {
  // The declaring class's reflection answers (frida's overload objects do not carry the modifiers).
  try {
    const holder = overload.holder.class;
    const types = overload.argumentTypes.map(t => t.className);
    for (const m of holder.getDeclaredMethods()) {
      if (m.getName() !== overload.methodName) continue;
      const params = m.getParameterTypes().map(c => c.getName());
      if (params.length === types.length && params.every((p, i) => p === types[i])) {
        return (m.getModifiers() & ACC_ABSTRACT) !== 0;
      }
    }
    return holder.isInterface();
  } catch (e) {
    return false;
  }
}

// `this.request().url()`, `arg0.uri()`: a receiver, then argument-less calls; the last value's toString().
function evaluateUrl(expression, self, args) {
  const parts = expression.split('.');
  let value = parts[0] === 'this' ? self : args[parseInt(parts[0].slice(3), 10)];
  for (const part of parts.slice(1)) {
    if (value === null || value === undefined) return null;
    value = value[part.replace('()', '')]();
  }
  return value === null || value === undefined ? null : String(value.toString());
}

// ---------------------------------------------------------------------------------------------------------
// Java hook state: per API id, installed / failed (with the reason) / never loaded. A class may appear in any
// class loader at any time (split APKs, DexClassLoader plugins, SDKs that load their own code): every group is
// tried in every loader the app creates, and abstract or interface targets are hooked in each loaded class that
// implements them (calls reach the override, never the abstract declaration).
// ---------------------------------------------------------------------------------------------------------
const groups = [];
const groupsByClass = {};
const hookedOverloads = {};
const inGroup = {};
const apiState = {};             // id -> {status, reason, classes}
const triedIn = {};              // group key + loader id -> true
const classHooks = {};           // class name -> [fn(factory, wrapper)]: unpinning and other per-class patches
let javaStarted = false;
let deoptimized = false;
let javaReadyAt = null;

function buildGroups() {
  const requestEntries = (config.network || []).map(n => Object.assign({ kind: 'request' }, n));
  for (const api of config.apis.concat(requestEntries)) {
    const key = api.class + '#' + api.method;
    let group = groups.find(g => g.key === key);
    if (group === undefined) {
      group = { key: key, class: api.class, method: api.method, apis: [], target: null, abstract: false };
      groups.push(group);
      (groupsByClass[api.class] = groupsByClass[api.class] || []).push(group);
    }
    group.apis.push(api);
    apiState[api.id] = { status: 'never_loaded', classes: [] };
  }
}

function loaderKey(factory) {
  // A loader's wrapper is a new JS object each time: name the Java object itself.
  const loader = factory.loader;
  return loader === null ? 'default' : 'L' + Java.use('java.lang.System').identityHashCode(loader);
}

function markCovered(group, covered, className, failure) {
  for (const api of group.apis) {
    const state = apiState[api.id];
    if (covered[api.id]) {
      state.status = 'installed';
      delete state.reason;
      if (state.classes.indexOf(className) < 0) state.classes.push(className);
    } else if (state.status !== 'installed') {
      state.status = 'failed';
      state.reason = failure || ('no overload ' + api.signature + ' in ' + className);
    }
  }
}

function hookGroupIn(group, factory) {
  const tried = group.key + '@' + loaderKey(factory);
  if (triedIn[tried]) return;
  let wrapper;
  try {
    wrapper = factory.use(group.class);
  } catch (e) {
    return;                           // not visible from this loader: another one may have it
  }
  triedIn[tried] = true;
  let covered = {};
  let failure = null;
  try {
    if (wrapper[group.method] === undefined) throw new Error('no method ' + group.method);
    const klass = wrapper.class;
    const abstractTarget = klass.isInterface() ||
      wrapper[group.method].overloads.some(o => o.holder.$className === group.class && abstractOverload(o));
    covered = installOverloads(group, wrapper, false);
    if (abstractTarget && group.target === null) {
      group.abstract = true;
      group.target = Java.retain(klass);
      hookLoadedImplementations(group);
      return;
    }
  } catch (e) {
    failure = String(e.message || e);
  }
  markCovered(group, covered, group.class, failure);
}

function hookImplementation(group, factory, className) {
  const tried = group.key + '>' + className + '@' + loaderKey(factory);
  if (triedIn[tried]) return;
  triedIn[tried] = true;
  try {
    const wrapper = factory.use(className);
    if (wrapper.class.isInterface()) return;
    const covered = installOverloads(group, wrapper, true);
    if (Object.keys(covered).length > 0) markCovered(group, covered, className, null);
  } catch (e) {
    emit({ type: 'error', where: 'implementation ' + className + ' of ' + group.key, message: String(e) });
  }
}

function hookLoadedImplementations(group) {
  const env = Java.vm.getEnv();
  const found = [];
  Java.enumerateLoadedClasses({
    onMatch(name, handle) {
      if (name.startsWith('[') || name === group.class || handle === undefined) return;
      if (env.isAssignableFrom(handle, group.target.$h)) found.push(name);
    },
    onComplete() {}
  });
  for (const name of found) {
    let loader = null;
    try {
      loader = Java.use(name).class.getClassLoader();
    } catch (e) {
      continue;                     // loaded by a loader the default factory cannot see: found on its next load
    }
    hookImplementation(group, loader === null ? Java.classFactory : Java.ClassFactory.get(loader), name);
  }
  for (const api of group.apis) {
    if (apiState[api.id].status === 'never_loaded') {
      apiState[api.id].status = 'failed';
      apiState[api.id].reason = 'abstract: no implementation loaded';
    }
  }
}

function runClassHooks(name, factory) {
  const hooks = classHooks[name];
  if (hooks === undefined) return;
  const tried = 'patch:' + name + '@' + loaderKey(factory);
  if (triedIn[tried]) return;
  triedIn[tried] = true;
  let wrapper;
  try {
    wrapper = factory.use(name);
  } catch (e) {
    delete triedIn[tried];
    return;
  }
  for (const fn of hooks) {
    try { fn(wrapper, factory); } catch (e) { emit({ type: 'error', where: 'patch ' + name, message: String(e) }); }
  }
}

function tryAllIn(factory) {
  for (const group of groups) if (!group.abstract) hookGroupIn(group, factory);
  Object.keys(classHooks).forEach(name => runClassHooks(name, factory));
}

// A class just loaded by some loader: a pending target, a patch target, or an implementation of an abstract one.
function onClassLoaded(klass, loader) {
  const name = klass.getName();
  const factory = loader === null || isApplicationLoader(loader) ? Java.classFactory : Java.ClassFactory.get(loader);
  (groupsByClass[name] || []).forEach(g => hookGroupIn(g, factory));
  runClassHooks(name, factory);
  if (config.unpin) unpinBySignature(klass, name, loader, factory);
  const env = Java.vm.getEnv();
  for (const group of groups) {
    if (group.abstract && group.target !== null && name !== group.class &&
        env.isAssignableFrom(klass.$h, group.target.$h)) {
      hookImplementation(group, factory, name);
    }
  }
}

// Late and dynamic loaders. HotSpot: every class a Java-level loader defines passes ClassLoader.postDefineClass
// (private, so no subclass vtable bypasses the hook; ClassLoader.loadClass would be reached through each
// loader's own vtable copy, unhooked). ART: loadClass(String) (ArtMethods are patched in place, subclasses
// included), and every new BaseDexClassLoader (DexClassLoader, PathClassLoader, InMemoryDexClassLoader) is
// searched for the targets as soon as it is constructed.
const loadingNow = {};
const definedClasses = [];
let applicationLoader = null;

function isApplicationLoader(loader) {
  // ART: the default factory is the app's loader already. HotSpot: the system class loader is what the default
  // factory's FindClass uses from the agent's thread.
  if (isArt()) return loader.$isSameObject(Java.classFactory.loader);
  if (applicationLoader === null) applicationLoader = Java.retain(Java.use('java.lang.ClassLoader').getSystemClassLoader());
  return loader.$isSameObject(applicationLoader);
}

function interesting(klass, name, loader) {
  if (groupsByClass[name] !== undefined || classHooks[name] !== undefined) return true;
  if (config.unpin && pinnerBySignature(klass, name, loader) !== null) return true;
  const env = Java.vm.getEnv();
  return groups.some(g => g.abstract && g.target !== null && name !== g.class &&
                          env.isAssignableFrom(klass.$h, g.target.$h));
}

// Classes loaded while one is being looked at (the signature check's reflection resolves the types it names,
// and HotSpot links the class): looked at right after it, on the same thread, not lost.
const nestedLoads = {};

function classLoaded(klass, loader) {
  const tid = Process.getCurrentThreadId();
  if (klass === null) return;
  if (loadingNow[tid]) {
    (nestedLoads[tid] = nestedLoads[tid] || []).push({ klass: Java.retain(klass),
                                                      loader: loader === null ? null : Java.retain(loader) });
    return;
  }
  if (inHook[tid]) return;
  loadingNow[tid] = true;
  try {
    const name = klass.getName();
    if (!interesting(klass, name, loader)) return;
    if (isArt() || agentThreadBusy === tid) {     // in place: ART, or the agent's own thread (hookDefined)
      onClassLoaded(klass, loader);
      return;
    }
    // HotSpot: inside a hooked java.lang.ClassLoader method JNI FindClass answers from the boot loader, and the
    // bridge cannot build wrappers for app classes here. The class is handed to the agent's own thread (no Java
    // frame: the application loader's view): the host calls rpc hookDefined and posts `class_hooked:SEQ`.
    // A class of the application loader: this thread waits (script unlocked) until it is hooked, so it is
    // hooked before its first use. Another loader (URLClassLoader...): the bridge would ask that loader's
    // loadClass, whose per-class lock this thread holds, so this thread goes on and the hook lands just after;
    // a call made in the same instant as the load can be missed (docs/runtime.md).
    const seq = ++definedSeq;
    const own = loader === null || isApplicationLoader(loader);
    definedClasses.push({ seq: seq, klass: Java.retain(klass), loader: loader === null ? null : Java.retain(loader) });
    send({ type: 'class_defined', seq: seq, name: name });
    if (own) recv('class_hooked:' + seq, () => {}).wait();
  } catch (e) {
    emit({ type: 'error', where: 'class loader watch', message: String(e) });
  } finally {
    delete loadingNow[tid];
    const nested = nestedLoads[tid];
    delete nestedLoads[tid];
    if (nested !== undefined) nested.forEach(n => classLoaded(n.klass, n.loader));
  }
}

let definedSeq = 0;

let agentThreadBusy = null;

function hookDefinedClasses() {
  const done = [];
  agentThreadBusy = Process.getCurrentThreadId();
  Java.performNow(() => {
    while (definedClasses.length > 0) {
      const item = definedClasses.shift();
      try {
        onClassLoaded(item.klass, item.loader);
      } catch (e) {
        emit({ type: 'error', where: 'class loader watch', message: String(e) });
      } finally {
        done.push(item.seq);
      }
    }
  });
  agentThreadBusy = null;
  return done;
}

function watchClassLoaders() {
  const ClassLoader = Java.use('java.lang.ClassLoader');
  if (!isArt()) {
    const post = ClassLoader.postDefineClass;
    post.implementation = function (klass, domain) {
      post.call(this, klass, domain);
      classLoaded(klass, this);
    };
    return;
  }
  const loadClass = ClassLoader.loadClass.overload('java.lang.String');
  loadClass.implementation = function (name) {
    const klass = loadClass.call(this, name);
    classLoaded(klass, this);
    return klass;
  };
  const Base = Java.use('dalvik.system.BaseDexClassLoader');
  Base.$init.overloads.forEach(init => {
    init.implementation = function () {
      const out = init.apply(this, arguments);
      try { tryAllIn(Java.ClassFactory.get(this)); } catch (e) { /* its classes are checked as they load */ }
      return out;
    };
  });
}

function setJavaProxy() {
  const proxy = config.javaProxy;
  if (!proxy) return;
  const System = Java.use('java.lang.System');
  for (const scheme of ['http', 'https']) {
    System.setProperty(scheme + '.proxyHost', proxy.host);
    System.setProperty(scheme + '.proxyPort', String(proxy.port));
  }
  // The JDK sends loopback DIRECT unless the list is explicitly empty; on a device loopback stays local.
  System.setProperty('http.nonProxyHosts', proxy.nonProxyHosts);
}

function isArt() { return Process.findModuleByName('libart.so') !== null; }

function watchHotSpotMainReturn() {
  // The java launcher detaches its main thread right before DestroyJavaVM, which then waits for every
  // non-daemon thread, the bridge's included: a JVM never exits while we stay loaded. Tell the host, which
  // unloads. (Hooking DestroyJavaVM itself would leave a thread inside our trampoline and block the unload.)
  if (Process.findModuleByName('libjvm.so') === null) return;
  const detach = Java.vm.handle.readPointer().add(5 * Process.pointerSize).readPointer();
  Interceptor.attach(detach, { onEnter() { emit({ type: 'jvm_thread_detached' }); } });
}

// Everything Java, once, inside the VM: proxy settings, hooks, loader watch, unpinning. Run at the point where
// the app is loaded and has run nothing yet: on Android Java.perform's application-loaded point (before
// content providers and Application.onCreate); on HotSpot right after JNI_CreateJavaVM, before the main class.
function startJava(when) {
  if (javaStarted) return;
  javaStarted = true;
  buildGroups();
  const install = () => {
    try {
      watchHotSpotMainReturn();
    } catch (e) {
      emit({ type: 'error', where: 'watchHotSpotMainReturn', message: String(e) });
    }
    try { setJavaProxy(); } catch (e) { emit({ type: 'error', where: 'java proxy', message: String(e) }); }
    if (config.unpin) registerUnpinning();
    tryAllIn(Java.classFactory);
    if (config.unpin) {
      try { scanLoadedForPinners(); } catch (e) { emit({ type: 'error', where: 'pinner scan', message: String(e) }); }
    }
    if (isArt()) {
      try { Java.enumerateClassLoadersSync().forEach(l => tryAllIn(Java.ClassFactory.get(l))); } catch (e) { /* */ }
      // Trivial getters of the boot image (Location.getLatitude...) are inlined into their callers' compiled
      // code and never reach a hook: run boot-image code interpreted from here on.
      try {
        Java.deoptimizeBootImage();
        deoptimized = true;
      } catch (e) {
        emit({ type: 'error', where: 'deoptimizeBootImage', message: String(e) });
      }
    }
    try { watchClassLoaders(); } catch (e) { emit({ type: 'error', where: 'class loader watch', message: String(e) }); }
    javaReadyAt = now();
    emit({ type: 'java_ready', when: when, hooks: javaHookState() });
  };
  if (when === 'startup') Java.performNow(install); else Java.perform(install);
}

function watchHotSpotStartup() {
  // Spawned suspended before libjvm is loaded: hook JNI_CreateJavaVM as soon as libjvm maps, and install
  // everything on the launcher's thread when it returns, before LoadMainClass.
  const onJvm = module => {
    const create = module.findExportByName('JNI_CreateJavaVM');
    if (create === null) return;
    Interceptor.attach(create, {
      onLeave(retval) {
        if (retval.toInt32() !== 0) return;
        try { startJava('startup'); } catch (e) { emit({ type: 'error', where: 'java startup', message: String(e) }); }
      }
    });
  };
  const loaded = Process.findModuleByName('libjvm.so');
  if (loaded !== null) return false;
  const observer = Process.attachModuleObserver({
    onAdded(module) {
      if (module.name === 'libjvm.so') {
        onJvm(module);
        observer.detach();
      }
    }
  });
  return true;
}

function javaHookState() {
  const out = {};
  Object.keys(apiState).forEach(id => { out[id] = Object.assign({}, apiState[id]); });
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Trust the run's CA and undo certificate pinning. Each patch is registered by class name and applied in every
// class loader where that class appears (the loader watch above), not once at spawn. Techniques as in the
// public write-ups on Android unpinning; written here from those descriptions.
// ---------------------------------------------------------------------------------------------------------
const unpinned = [];

function onClass(name, patch, quiet) {
  (classHooks[name] = classHooks[name] || []).push((wrapper, factory) => {
    patch(wrapper, factory);
    if (quiet) return;                       // the fallback's watch: reported when it patches something
    if (unpinned.indexOf(name) < 0) unpinned.push(name);
    emit({ type: 'unpin', target: name });
  });
}

function skipAll(wrapper, methodName, result) {
  if (wrapper[methodName] === undefined) return;
  wrapper[methodName].overloads.forEach(o => {
    o.implementation = function () { return result === undefined ? undefined : result(this, arguments, o); };
  });
}

let runCaManagers = null;

function runCaTrustManagers() {
  // Built at the app's first SSLContext.init, on its thread: no crypto work is done from the agent's thread.
  if (runCaManagers !== null) return runCaManagers;
  const CertificateFactory = Java.use('java.security.cert.CertificateFactory');
  const ByteArrayInputStream = Java.use('java.io.ByteArrayInputStream');
  const KeyStore = Java.use('java.security.KeyStore');
  const TrustManagerFactory = Java.use('javax.net.ssl.TrustManagerFactory');
  const pemBytes = Java.use('java.lang.String').$new(config.caPem).getBytes();
  const cert = CertificateFactory.getInstance('X.509').generateCertificate(ByteArrayInputStream.$new(pemBytes));
  const store = KeyStore.getInstance(KeyStore.getDefaultType());
  store.load(null, null);
  store.setCertificateEntry('appaudit-run-ca', cert);
  const factory = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
  factory.init(store);
  runCaManagers = factory.getTrustManagers();
  return runCaManagers;
}

function registerUnpinning() {
  if (config.caPem) {
    onClass('javax.net.ssl.SSLContext', SSLContext => {
      const init = SSLContext.init.overload('[Ljavax.net.ssl.KeyManager;', '[Ljavax.net.ssl.TrustManager;',
                                            'java.security.SecureRandom');
      init.implementation = function (km, tm, random) { return init.call(this, km, runCaTrustManagers(), random); };
    });
  }
  // OkHttp 3/4 and the platform's fork of OkHttp 2 (HttpsURLConnection on Android): pin checks return quietly.
  for (const name of ['okhttp3.CertificatePinner', 'com.android.okhttp.CertificatePinner',
                      'com.squareup.okhttp.CertificatePinner']) {
    onClass(name, Pinner => { ['check', 'check$okhttp', 'findMatchingPins'].forEach(m => {
      if (m === 'findMatchingPins') {
        const ArrayList = Java.use('java.util.ArrayList');
        skipAll(Pinner, m, () => ArrayList.$new());
      } else {
        skipAll(Pinner, m);
      }
    }); });
  }
  // Conscrypt (every Android TLS socket): the chain check accepts the presented chain as verified.
  onClass('com.android.org.conscrypt.TrustManagerImpl', Impl => {
    skipAll(Impl, 'checkTrustedRecursive', () => {
      try { scanLoadedForPinners(); } catch (e) { emit({ type: 'error', where: 'pinner scan', message: String(e) }); }
      return Java.use('java.util.ArrayList').$new();
    });
    skipAll(Impl, 'verifyChain', (self, args) => args[0]);
  });
  // Network Security Config pin-sets (android.security.net.config): the pin check passes.
  onClass('android.security.net.config.NetworkSecurityTrustManager', Manager => {
    skipAll(Manager, 'checkPins');
  });
  // TrustKit (DataTheorem): its pinning trust manager and hostname verifier.
  onClass('com.datatheorem.android.trustkit.pinning.PinningTrustManager', Manager => {
    skipAll(Manager, 'checkServerTrusted');
  });
  onClass('com.datatheorem.android.trustkit.pinning.OkHostnameVerifier', Verifier => {
    skipAll(Verifier, 'verify', () => true);
  });
  // WebView: a certificate error proceeds instead of cancelling (the base class and the app's override).
  onClass('android.webkit.WebViewClient', Client => {
    skipAll(Client, 'onReceivedSslError', (self, args) => { args[1].proceed(); });
  });
  // Cordova's WebView client; React Native pins through okhttp3.CertificatePinner (above), Cordova's
  // advanced-http plugin through its own trust manager (the fallback below).
  onClass('org.apache.cordova.CordovaWebViewClient', Client => {
    skipAll(Client, 'onReceivedSslError', (self, args) => { args[1].proceed(); });
  });
  if (config.unpinFallback) unpinFallback();
}

// Obfuscated OkHttp 3/4: R8 renames CertificatePinner and its methods, never the JDK types in their signatures,
// so the class is recognised by its shape (OkHttp's public API), checked once per class and loader:
//   - a concrete class with an instance field of type java.util.Set (its pins);
//   - the pin check: an instance method returning void taking (String, List) (`check`), (String, Certificate[])
//     (3.x's varargs `check`) or (String, a one-method interface) (4.x's `check$okhttp` with its Function0);
//   - and one confirmation: an instance field whose type is an abstract class declaring (List, String) -> List
//     (OkHttp's CertificateChainCleaner.clean), or the class file, where its loader serves it (HotSpot), holding
//     OkHttp's message "Certificate pinning failure!".
// A Set field alone rules out almost every class before any method is read. A singleton with a Set and a
// (String, List) method has neither confirmation and is left alone: a wrong patch would break the app.
const PINNER_FAILURE_MESSAGE = 'Certificate pinning failure!';
const NOT_APP_CODE = new RegExp('^(java|javax|jdk|sun|com\\.sun|android|androidx|dalvik|libcore|kotlin|kotlinx|' +
                                 'com\\.android|org\\.conscrypt|org\\.apache\\.harmony)\\.');
const ACC_INTERFACE = 0x200;
const pinnerSignatures = {};         // class + loader -> {methods, evidence} or null (checked, not a pinner)
const pinnerSearch = { classes: 0, with_set_field: 0, with_check_method: 0, matched: 0 };   // run.json: the cost

function memberParts(text) {
  // Member.toString(): "private final java.util.Set o.k.a",
  // "public final void o.k.a(java.lang.String,java.util.List) throws ...": modifiers, type, qualified name and,
  // for methods, the parameters.
  const match = /^((?:[a-z]+ )*)(\S+) (\S+?)(?:\(([^)]*)\))?(?: throws .*)?$/.exec(text);
  if (match === null) return null;
  return { modifiers: match[1].split(' '), type: match[2], name: match[3].slice(match[3].lastIndexOf('.') + 1),
           params: match[4] === undefined ? null : (match[4] === '' ? [] : match[4].split(',')) };
}

function isChainCleaner(type) {
  // An abstract class (not an interface) declaring an abstract (List, String) -> List.
  const modifiers = type.getModifiers();
  if ((modifiers & ACC_INTERFACE) !== 0 || (modifiers & ACC_ABSTRACT) === 0) return false;
  for (const method of type.getDeclaredMethods()) {
    const parts = memberParts(method.toString());
    if (parts !== null && parts.modifiers.indexOf('abstract') >= 0 && parts.type === 'java.util.List' &&
        parts.params !== null && parts.params.join(',') === 'java.util.List,java.lang.String') return true;
  }
  return false;
}

function isFunctionInterface(type) {
  if (!type.isInterface()) return false;
  const methods = type.getDeclaredMethods();
  return methods.length === 1 && methods[0].getParameterTypes().length === 0;
}

function classFileHolds(klass, name, text) {
  // HotSpot loaders serve class files as resources; ART's dex loaders do not (there: no evidence either way).
  if (isArt()) return false;
  const loader = klass.getClassLoader();
  if (loader === null) return false;
  const stream = loader.getResourceAsStream(name.replace(/\./g, '/') + '.class');
  if (stream === null) return false;
  try {
    const bytes = stream.readAllBytes();
    const String = Java.use('java.lang.String');
    return String.$new.overload('[B', 'java.lang.String').call(String, bytes, 'ISO-8859-1').indexOf(text) >= 0;
  } finally {
    stream.close();
  }
}

function pinnerShape(klass, name) {
  pinnerSearch.classes++;
  if ((klass.getModifiers() & (ACC_INTERFACE | ACC_ABSTRACT)) !== 0) return null;
  // One call per field (its toString) until a Set field is found: most classes stop here.
  const instanceFields = [];
  let pins = null;
  for (const field of klass.getDeclaredFields()) {
    const parts = memberParts(field.toString());
    if (parts === null || parts.params !== null || parts.modifiers.indexOf('static') >= 0) continue;
    instanceFields.push(field);
    if (pins === null && parts.type === 'java.util.Set') pins = parts.name;
  }
  if (pins === null) return null;
  pinnerSearch.with_set_field++;
  const methods = [];
  for (const method of klass.getDeclaredMethods()) {
    const parts = memberParts(method.toString());
    if (parts === null || parts.modifiers.indexOf('static') >= 0 || parts.type !== 'void' || parts.params === null || parts.params.length !== 2 ||
        parts.params[0] !== 'java.lang.String') continue;
    const second = parts.params[1];
    let form = null;
    if (second === 'java.util.List') form = 'check(String, List)';
    else if (second === 'java.security.cert.Certificate[]') form = 'check(String, Certificate...)';
    else if (isFunctionInterface(method.getParameterTypes()[1])) form = 'check(String, Function0)';
    if (form === null) continue;
    const params = [];
    for (const type of method.getParameterTypes()) params.push(type.getName());
    methods.push({ name: parts.name, params: params, form: form });
  }
  if (methods.length === 0) return null;
  pinnerSearch.with_check_method++;
  const evidence = ['Set field ' + pins].concat(methods.map(m => m.form + ' as ' + m.name));
  for (const field of instanceFields) {
    const type = field.getType();
    if (!type.isPrimitive() && !type.isArray() && !NOT_APP_CODE.test(type.getName()) && isChainCleaner(type)) {
      evidence.push('CertificateChainCleaner field ' + field.getName());
      break;
    }
  }
  if (classFileHolds(klass, name, PINNER_FAILURE_MESSAGE)) evidence.push('"' + PINNER_FAILURE_MESSAGE + '"');
  if (evidence.length === 1 + methods.length) return null;        // the shape without a confirmation
  pinnerSearch.matched++;
  return { methods: methods, evidence: evidence };
}

function pinnerBySignature(klass, name, loader) {
  // Platform classes are not the app's; a class patched by name (okhttp3.CertificatePinner) needs no search.
  if (NOT_APP_CODE.test(name) || name.startsWith('[') || classHooks[name] !== undefined) return null;
  const key = name + '@' + (loader === null ? 'boot' : Java.use('java.lang.System').identityHashCode(loader));
  if (!(key in pinnerSignatures)) {
    const tid = Process.getCurrentThreadId();
    const outer = inHook[tid];
    inHook[tid] = 1;                  // our reflection and class-file read are not the app's API calls
    let found = null;
    try {
      found = pinnerShape(klass, name);
    } catch (e) {
      found = null;                   // a class whose members cannot be resolved is not OkHttp's pinner
    } finally {
      if (outer === undefined) delete inHook[tid];
    }
    pinnerSignatures[key] = found;
  }
  return pinnerSignatures[key];
}

function unpinBySignature(klass, name, loader, factory) {
  const found = pinnerBySignature(klass, name, loader);
  if (found === null) return;
  const tried = 'signature:' + name + '@' + loaderKey(factory);
  if (triedIn[tried]) return;
  triedIn[tried] = true;
  const wrapper = factory.use(name);
  for (const method of found.methods) {
    const target = name + '.' + method.name;
    try {
      wrapper[method.name].overload.apply(wrapper[method.name], method.params).implementation = function () {
        return undefined;
      };
      unpinned.push(target);
      emit({ type: 'unpin', target: target, via: 'signature', class: name, method: method.name,
             parameters: method.params, evidence: found.evidence });
    } catch (e) {
      emit({ type: 'error', where: 'unpin signature ' + target, message: String(e) });
    }
  }
}

// ART resolves most app classes natively, without ClassLoader.loadClass: the loaded classes are searched at
// the application-loaded point and again at each TLS handshake (the platform's trust check runs before OkHttp's
// pin check), at most once a second; each class is looked at once.
const pinnerScanned = {};
let pinnerScanAt = 0;

function scanLoadedForPinners() {
  if (!isArt() || now() - pinnerScanAt < 1) return;
  pinnerScanAt = now();
  const env = Java.vm.getEnv();
  const fresh = [];
  // The bridge deletes each handle after onMatch, inside ART's class visitor: keep a reference of our own and
  // look at the classes only after the walk.
  Java.enumerateLoadedClasses({
    onMatch(name, handle) {
      if (pinnerScanned[name] || name.startsWith('[') || NOT_APP_CODE.test(name) || handle === undefined) return;
      pinnerScanned[name] = true;
      fresh.push(env.newGlobalRef(handle));
    },
    onComplete() {}
  });
  const Class = Java.use('java.lang.Class');
  for (const handle of fresh) {
    try {
      const klass = Java.cast(handle, Class);
      const loader = klass.getClassLoader();
      if (pinnerBySignature(klass, klass.getName(), loader) === null) continue;
      const factory = loader === null ? Java.classFactory : Java.ClassFactory.get(loader);
      unpinBySignature(klass, klass.getName(), loader, factory);
    } catch (e) {
      emit({ type: 'error', where: 'pinner scan', message: String(e) });
    } finally {
      env.deleteGlobalRef(handle);
    }
  }
}

// The fallback: an app's own pinning code (a custom X509TrustManager, a pinner the signature missed) ends by throwing a
// CertificateException or SSLPeerUnverifiedException. When one is constructed, the first frame outside the
// platform is the check that threw: that method is patched to return (void / true / its argument) from then on,
// and the app's next attempt goes through. The failed attempt itself stays in the run as a failed TLS flow.
const fallbackPatched = {};

function unpinFallback() {
  const patchThrower = () => {
    const stack = javaStack();
    for (const frame of stack) {
      const match = /^(?:[^()]*\/)?([^/()]+)\.([^./()]+)\(/.exec(frame);
      if (match === null) continue;
      const cls = match[1];
      const method = match[2];
      if (method === '<init>') continue;              // the exception's own constructors
      // The frame that constructs the exception is the check. The platform's own checks have their own patches
      // above; app code further up (main, a retry loop) is never the check.
      if (/^(java|javax|jdk|sun|com\.sun|android|dalvik|libcore|com\.android|org\.conscrypt)\./.test(cls)) return;
      if (fallbackPatched[cls + '.' + method]) return;
      fallbackPatched[cls + '.' + method] = true;
      // ART: here and now. HotSpot: from the agent's thread, where FindClass sees the app's classes (not from
      // inside this java.security constructor); this attempt fails, the next one goes through.
      if (isArt()) patchMethod(cls, method, stack); else setTimeout(() => Java.perform(() => patchMethod(cls, method, stack)), 0);
      return;
    }
  };
  const patchMethod = (cls, method, stack) => {
      try {
        const wrapper = Java.use(cls);
        wrapper[method].overloads.forEach(o => {
          const returns = o.returnType.className;
          o.implementation = function () {
            if (returns === 'void') return undefined;
            if (returns === 'boolean') return true;
            if (o.argumentTypes.length > 0 && o.argumentTypes[0].className === returns) return arguments[0];
            return o.apply(this, arguments);
          };
        });
        unpinned.push(cls + '.' + method);
        emit({ type: 'unpin', target: cls + '.' + method, via: 'fallback', stack: stack.slice(0, 8) });
      } catch (e) {
        emit({ type: 'error', where: 'unpin fallback ' + cls + '.' + method, message: String(e) });
      }
  };
  for (const name of ['java.security.cert.CertificateException', 'javax.net.ssl.SSLPeerUnverifiedException']) {
    onClass(name, Exception => {
      Exception.$init.overloads.forEach(init => {
        init.implementation = function () {
          const tid = Process.getCurrentThreadId();
          if (!inHook[tid]) {
            inHook[tid] = 1;
            try { patchThrower(); } catch (e) { /* the exception still goes out */ } finally { delete inHook[tid]; }
          }
          return init.apply(this, arguments);
        };
      });
    }, true);
  }
}

// ---------------------------------------------------------------------------------------------------------
rpc.exports = {
  init(options) {
    Object.assign(config, options);
    hookNative();
    let javaAt = null;
    if (config.java && typeof Java !== 'undefined') {
      if (watchHotSpotStartup()) {
        javaAt = 'startup';                 // HotSpot spawned suspended: installs itself before main
      } else if (Java.available && isArt()) {
        javaAt = 'application';             // ART: the VM is up at spawn; runs at the application-loaded point
        startJava('application');
      }
    }
    return { native: nativeHooked, native_failed: nativeFailed, java_bridge: typeof Java !== 'undefined',
             java_at: javaAt, platform: Process.platform, arch: Process.arch, bionic: isBionic };
  },
  javaAvailable() {
    return typeof Java !== 'undefined' && Java.available;
  },
  hookJava() {
    // A VM found after start (attached to a running JVM): install now, from the agent's thread.
    if (!javaStarted) startJava('attach');
    const result = { java_ready: javaReadyAt !== null, hooks: javaHookState() };
    // On HotSpot a replacement made while other threads run took effect up to ~20 ms after the setter returned
    // (measured): answer only once they are in.
    const settleMs = Process.findModuleByName('libjvm.so') !== null ? 100 : 0;
    return new Promise(resolve => setTimeout(() => resolve(result), settleMs));
  },
  javaMainAlive() {
    // Confirms a jvm_thread_detached event: was it the launcher's main thread (gone now) or another JNI thread?
    let alive = false;
    Java.performNow(() => {
      const Thread = Java.use('java.lang.Thread');
      const threads = Thread.getAllStackTraces().keySet().toArray();
      for (let i = 0; i < threads.length; i++) {
        const thread = Java.cast(threads[i], Thread);
        if (thread.getName() === 'main' && thread.isAlive()) alive = true;
      }
    });
    return alive;
  },
  status() {
    return { native: nativeHooked, native_failed: nativeFailed, java_ready: javaReadyAt !== null,
             boot_image_deoptimized: deoptimized,
             java: javaHookState(), unpinned: unpinned.slice(), pinner_search: Object.assign({}, pinnerSearch),
             repeats: repeatCounts(),
             dropped: Object.assign({}, droppedPerApi) };
  },
  hookDefined() {
    return hookDefinedClasses();
  },
  appTruth() {
    // Identifiers as this app gets them, read inside it (Android): ANDROID_ID is per app since API 26, and the
    // advertising ID comes from Play Services' binder (off the main thread: here, the agent's thread).
    const out = {};
    if (!isArt()) return out;
    Java.performNow(() => {
      const app = Java.use('android.app.ActivityThread').currentApplication();
      if (app === null) return;
      inHook[Process.getCurrentThreadId()] = 1;       // these reads are ours: not the app's API calls
      try {
        out['device_ids.android_id'] = Java.use('android.provider.Settings$Secure')
          .getString(app.getContentResolver(), 'android_id');
        try {
          const info = Java.use('com.google.android.gms.ads.identifier.AdvertisingIdClient').getAdvertisingIdInfo(app);
          if (!info.isLimitAdTrackingEnabled()) out['device_ids.advertising_id'] = info.getId();
        } catch (e) { /* no Play Services in the app or on the device */ }
      } finally {
        delete inHook[Process.getCurrentThreadId()];
      }
    });
    return out;
  },
  dispose() {
    return true;
  }
};

/*
 * appaudit Frida agent: ONE agent, driven by data.
 *
 * The Python side (audit/runtime/frida_session.py) prepends the Java bridge from the frida-tools wheel when the
 * target may run Java, loads this script, then calls rpc `init(config)` with the hook list built from
 * rules/apis.yaml, and `hookJava()` once a VM is up. Every observation leaves as send({type: ...}) and is written
 * to frida-events.jsonl by the host, one line per event, as it arrives.
 *
 * Event types:
 *   api        a hooked Java API returned: api id, data type, value (identifier / location), stack, thread, time
 *   connect    connect(2) on an IP socket: fd, socket type, peer, local address after the call, result, backtrace
 *   dns        getaddrinfo(3): host and the addresses it resolved to
 *   ssl_write  SSL_write / SSL_write_ex: fd, local/peer tuple, bytes, first line of plaintext, backtrace
 *   ssl_read   SSL_read / SSL_read_ex: fd, tuple, bytes
 *   request    a Java call starting an HTTP request (hooks/network.yaml): url, caller's stack, thread
 *   quic_blocked  a UDP datagram or connect to port 443 refused so the app falls back to TCP (when enabled)
 *   jvm_thread_detached  HotSpot's launcher is about to destroy the VM: the host should unload (see below)
 *   status     what the Android trust/unpinning step could hook
 *   error      a hook threw; the call itself went through unchanged
 */
'use strict';

const config = { apis: [], native: true, blockQuic: false, unpin: false, caPem: null, maxFrames: 24,
                 backtraceFrames: 8 };
const inHook = {};          // thread id -> depth: our own calls (getLatitude...) must not record themselves
const inRequest = {};       // thread id -> inside a reported request call: nested hooked calls are the same request
const pendingJava = [];     // apis whose class is not loaded yet (Android: app class loaders appear late)
const hookedJava = [];
const unhookable = [];
const nativeHooked = [];
const sslModulesSeen = {};
const sslFunctionsHooked = {};
let javaRetryTimer = null;

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

function hookConnect() {
  const connect = libcExport('connect');
  if (connect === null) return;
  Interceptor.attach(connect, {
    onEnter(args) {
      this.fd = args[0].toInt32();
      this.peer = parseSockaddr(args[1]);
      if (this.peer !== null) this.bt = backtrace(this.context);
    },
    onLeave(retval) {
      if (this.peer === null) return;
      const result = retval.toInt32();
      const errno = result === 0 ? 0 : this.errno;    // the call's errno, as Frida saved it
      emit({ type: 'connect', fd: this.fd, sock_type: socketType(this.fd) === SOCK_DGRAM ? 'udp' : 'tcp',
             peer: this.peer, local: socketAddress(getsockname, this.fd), result: result, errno: errno,
             backtrace: this.bt });
    }
  });
  nativeHooked.push('connect');
}

function hookQuicBlocking() {
  // UDP 443 is QUIC/HTTP3, which the proxy cannot see: refuse it so clients fall back to TCP.
  const ECONNREFUSED = 111;
  for (const name of ['connect', 'sendto']) {
    const address = libcExport(name);
    if (address === null) continue;
    const original = name === 'connect'
      ? new NativeFunction(address, 'int', ['int', 'pointer', 'int'])
      : new NativeFunction(address, 'int', ['int', 'pointer', 'size_t', 'int', 'pointer', 'int']);
    const replacement = name === 'connect'
      ? new NativeCallback(function (fd, sa, len) {
          if (isQuic(fd, sa)) return refuse(this, fd, sa, name);
          return original(fd, sa, len);
        }, 'int', ['int', 'pointer', 'int'])
      : new NativeCallback(function (fd, buf, n, flags, sa, len) {
          if (isQuic(fd, sa)) return refuse(this, fd, sa, name);
          return original(fd, buf, n, flags, sa, len);
        }, 'int', ['int', 'pointer', 'size_t', 'int', 'pointer', 'int']);
    Interceptor.replace(address, replacement);
    nativeHooked.push(name + ':quic-block');
  }
  function isQuic(fd, sa) {
    if (sa.isNull()) return false;
    const peer = parseSockaddr(sa);
    return peer !== null && peer.port === 443 && socketType(fd) === SOCK_DGRAM;
  }
  function refuse(invocation, fd, sa, via) {
    emit({ type: 'quic_blocked', fd: fd, peer: parseSockaddr(sa), via: via });
    // Frida restores the thread's errno after a replacement returns: set it through the invocation.
    invocation.errno = ECONNREFUSED;
    setErrno(ECONNREFUSED);
    return -1;
  }
}

function hookGetaddrinfo() {
  const address = libcExport('getaddrinfo');
  if (address === null) return;
  // struct addrinfo: glibc puts ai_addr before ai_canonname, bionic (BSD layout) after it.
  const p = Process.pointerSize;
  const firstPointer = 16 + p;    // four ints, socklen_t, padded to pointer alignment
  const offAddr = isBionic ? firstPointer + p : firstPointer;
  const offNext = firstPointer + 2 * p;
  Interceptor.attach(address, {
    onEnter(args) {
      this.host = args[0].isNull() ? null : args[0].readUtf8String();
      this.res = args[3];
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
      emit({ type: 'dns', host: this.host, result: retval.toInt32(), addresses: addresses });
    }
  });
  nativeHooked.push('getaddrinfo');
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

function hookNative() {
  hookConnect();
  hookGetaddrinfo();
  if (config.blockQuic) hookQuicBlocking();
  // libssl may be loaded later and privately (Python's _ssl, curl's libcurl): watch module loads.
  Process.enumerateModules().forEach(hookSslModule);
  Process.attachModuleObserver({ onAdded(module) { try { hookSslModule(module); } catch (e) { /* next */ } } });
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

// Several rules may name one method (getLastKnownLocation -> location.last_known and location.precise): a
// method gets one implementation, which reports every rule whose signature and args_any match the call.
// Request entries (hooks/network.yaml) report the URL a call is about to fetch, with the caller's stack,
// before the call; the traffic stage joins them to the proxied flow by URL and time.
function installGroup(group, wrapper) {
  const method = wrapper[group.method];
  if (method === undefined) throw new Error('no method ' + group.method);
  const covered = {};
  for (const overload of method.overloads) {
    const signature = jniSignature(overload);
    const entries = group.apis.filter(a => !a.signature || a.signature === signature);
    if (entries.length === 0) continue;
    entries.forEach(a => { covered[a.id] = true; });
    const apis = entries.filter(a => a.kind !== 'request');
    const requests = entries.filter(a => a.kind === 'request');
    overload.implementation = function () {
      const args = Array.prototype.slice.call(arguments);
      const tid = Process.getCurrentThreadId();
      // One request is reported once, at the outermost hooked call (send -> sendAsync -> sendAsync).
      const outerRequest = requests.length > 0 && !inRequest[tid] && !inHook[tid];
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
        if (outerRequest) delete inRequest[tid];
      }
      if (apis.length === 0 || inHook[tid]) return result;
      inHook[tid] = 1;
      try {
        const matching = apis.filter(a => argsMatch(a, args));
        if (matching.length > 0) {
          const stack = javaStack();
          const thread = threadName();
          const values = {};
          for (const api of matching) {
            if (!(api.returns in values)) values[api.returns] = describeReturn(api, result);
            emit({ type: 'api', api: api.id, data_type: api.data_type, class: api.class, method: api.method,
                   signature: signature, value: values[api.returns], stack: stack, thread: thread });
          }
        }
      } catch (e) {
        emit({ type: 'error', where: group.class + '.' + group.method, message: String(e) });
      } finally {
        delete inHook[tid];
      }
      return result;
    };
  }
  return covered;
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

function tryHookPending() {
  const loaders = [];
  if (isArt()) {
    try { Java.enumerateClassLoadersSync().forEach(l => loaders.push(l)); } catch (e) { /* none yet */ }
  }
  for (let i = pendingJava.length - 1; i >= 0; i--) {
    const group = pendingJava[i];
    let wrapper = null;
    try {
      wrapper = Java.use(group.class);
    } catch (e) {
      for (const loader of loaders) {
        try { wrapper = Java.ClassFactory.get(loader).use(group.class); break; } catch (e2) { /* next loader */ }
      }
    }
    if (wrapper === null) continue;
    let covered = {};
    let failure = null;
    try {
      covered = installGroup(group, wrapper);
    } catch (e) {
      failure = String(e.message || e);
    }
    for (const api of group.apis) {
      if (covered[api.id]) hookedJava.push(api.id);
      // The class is there but not this method or overload (older API level, a stand-in): not an error.
      else unhookable.push({ api: api.id, reason: failure || ('no overload ' + api.signature) });
    }
    pendingJava.splice(i, 1);
  }
}

function pendingIds() {
  const out = [];
  pendingJava.forEach(g => g.apis.forEach(a => out.push(a.id)));
  return out;
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

let javaHooksStarted = false;

function hookJavaNow() {
  if (javaHooksStarted) {          // a retried rpc call: only the classes still pending
    Java.performNow(tryHookPending);
    return;
  }
  javaHooksStarted = true;
  const groups = {};
  const requestEntries = (config.network || []).map(n => Object.assign({ kind: 'request' }, n));
  for (const api of config.apis.concat(requestEntries)) {
    const key = api.class + '#' + api.method;
    if (!(key in groups)) {
      groups[key] = { class: api.class, method: api.method, apis: [] };
      pendingJava.push(groups[key]);
    }
    groups[key].apis.push(api);
  }
  try {
    watchHotSpotMainReturn();
  } catch (e) {
    emit({ type: 'error', where: 'watchHotSpotMainReturn', message: String(e) });
  }
  Java.performNow(() => {
    tryHookPending();
    if (config.unpin) unpinAndTrust();
  });
  if (pendingJava.length > 0 && config.retryJavaS > 0) {
    let left = config.retryJavaS;
    javaRetryTimer = setInterval(() => {
      Java.perform(tryHookPending);
      if (--left <= 0 || pendingJava.length === 0) {
        clearInterval(javaRetryTimer);
        javaRetryTimer = null;
      }
    }, 1000);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Android only: trust the run's CA and undo certificate pinning (verified only on a real device)
// ---------------------------------------------------------------------------------------------------------
function unpinAndTrust() {
  const done = [];
  const attempt = (name, fn) => { try { fn(); done.push(name); } catch (e) { /* class absent here */ } };
  attempt('SSLContext.init', () => {
    if (!config.caPem) throw new Error('no CA');
    // The trust managers are built at the app's first SSLContext.init, on its thread: no crypto work (provider
    // loading, class initialisation) is done from the agent's thread for apps that never call init.
    let ours = null;
    const runCaTrustManagers = () => {
      if (ours !== null) return ours;
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
      ours = factory.getTrustManagers();
      return ours;
    };
    const SSLContext = Java.use('javax.net.ssl.SSLContext');
    const init = SSLContext.init.overload('[Ljavax.net.ssl.KeyManager;', '[Ljavax.net.ssl.TrustManager;',
                                          'java.security.SecureRandom');
    init.implementation = function (km, tm, random) {
      return init.call(this, km, runCaTrustManagers(), random);
    };
  });
  attempt('okhttp3.CertificatePinner', () => {
    const Pinner = Java.use('okhttp3.CertificatePinner');
    for (const name of ['check', 'check$okhttp']) {
      if (Pinner[name] === undefined) continue;
      Pinner[name].overloads.forEach(o => { o.implementation = function () { /* pinning skipped */ }; });
    }
  });
  attempt('conscrypt.TrustManagerImpl', () => {
    const Impl = Java.use('com.android.org.conscrypt.TrustManagerImpl');
    const ArrayList = Java.use('java.util.ArrayList');
    if (Impl.checkTrustedRecursive !== undefined) {
      Impl.checkTrustedRecursive.overloads.forEach(o => { o.implementation = function () { return ArrayList.$new(); }; });
    }
    if (Impl.verifyChain !== undefined) {
      Impl.verifyChain.overloads.forEach(o => { o.implementation = function (chain) { return chain; }; });
    }
  });
  attempt('WebViewClient.onReceivedSslError', () => {
    const Client = Java.use('android.webkit.WebViewClient');
    Client.onReceivedSslError.implementation = function (view, handler, error) { handler.proceed(); };
  });
  emit({ type: 'status', unpinned: done });
}

// ---------------------------------------------------------------------------------------------------------
rpc.exports = {
  init(options) {
    Object.assign(config, options);
    if (config.native) hookNative();
    return { native: nativeHooked, java_bridge: typeof Java !== 'undefined', platform: Process.platform,
             arch: Process.arch, bionic: isBionic };
  },
  javaAvailable() {
    return typeof Java !== 'undefined' && Java.available;
  },
  hookJava() {
    hookJavaNow();
    const result = { hooked: hookedJava.slice(), pending: pendingIds(), unhookable: unhookable.slice() };
    // On HotSpot a replacement took effect up to ~20 ms after the setter returned (measured: a method called
    // every millisecond showed its first hooked call 3-22 ms after this rpc returned, and a call made right
    // after it was missed about once in twenty runs). Answer only once they are in.
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
    return { native: nativeHooked, java_hooked: hookedJava.slice(), java_pending: pendingIds(),
             java_unhookable: unhookable.slice() };
  },
  dispose() {
    if (javaRetryTimer !== null) clearInterval(javaRetryTimer);
    return true;
  }
};

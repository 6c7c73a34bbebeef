/**
 * A minimal LDAPv3 client for one thing: the paged search of a whole scope, handing on each
 * page's SearchResultEntry messages as raw bytes, undecoded (scope-read.ts decodes them).
 *
 * Why not ldapts, as everywhere else: reading 100,000 users through it cost 2.7 CPU seconds
 * (0.8 s of it garbage collection; BER parsing into objects and toObject 0.55 s; our decoding of
 * those objects 0.3 s), on a machine whose two cores a preview keeps busy, where ldapsearch reads
 * the same in 0.15 CPU seconds. Here the stream is only cut into messages (BER lengths, ber.ts)
 * and each entry is decoded once, straight from the bytes (raw-entries.ts).
 *
 * Requests, controls and results are ldapts' own classes (its filter encoding, its paged-results
 * control, its result-code errors), and connecting follows connection.ts's rules (TLS options,
 * certificate checks, no password in clear text), so errors read as they do through ldapts.
 */
import net from 'node:net';
import tls from 'node:tls';
import {
  BindRequest,
  ExtendedRequest,
  MessageParser,
  PagedResultsControl,
  ResultCodeError,
  SearchRequest,
  StatusCodeParser,
  UnbindRequest,
} from 'ldapts';
import { parseFilter } from '../../syntax/filter.js';
import { DirectoryError } from '../../shared/errors.js';
import { type Framed, MessageFramer, OP } from './ber.js';
import {
  beforeConnect,
  bindAction,
  type ConnectionSettings,
  type DirectoryLogger,
  explainError,
  refusedStartTLS,
  tlsOptions,
  transport,
} from './connection.js';
import { requestedAttributes, type SearchPagesOptions } from './directory.js';

/** An ldapts request (its Message class is not exported). */
type Request = BindRequest | ExtendedRequest | SearchRequest;
type Response = Framed & { entries: Buffer[]; references: boolean };

const START_TLS = '1.3.6.1.4.1.1466.20037';

/** Pages in a row without entries (and with a cookie) after which a server is not paging. */
const MAX_EMPTY_PAGES = 1000;

interface Waiting {
  id: number;
  resolve: (m: Framed) => void;
  reject: (err: Error) => void;
  timer?: NodeJS.Timeout;
  /** SearchResultEntry messages of the search in flight. */
  entries: Buffer[];
  /** It also received SearchResultReferences (ignored, as ldapts' callers here ignore them). */
  references: boolean;
}

/** One parsed ldapts response (bind, extended, search done) from its framed bytes. */
function parse<T>(bytes: Buffer): T {
  const parser = new MessageParser();
  let message: unknown;
  let error: Error | undefined;
  parser.on('message', (m) => (message = m));
  parser.on('error', (e) => (error = e));
  parser.read(bytes, new Map());
  if (error) throw error;
  if (message === undefined) throw new Error('an LDAP response ldapts cannot read');
  return message as T;
}

/** A response's result code, as ldapts' error for it unless it is success. */
function check(response: { status: number }): void {
  if (response.status !== 0)
    throw StatusCodeParser.parse(response as Parameters<typeof StatusCodeParser.parse>[0]);
}

export class BulkConnection {
  private socket: net.Socket;
  private framer!: MessageFramer;
  private waiting: Waiting | undefined;
  private lastId = 0;
  private closed = false;

  private constructor(
    socket: net.Socket,
    private readonly settings: ConnectionSettings,
  ) {
    this.socket = socket;
    this.listen(socket);
  }

  /** Connected, secured as configured and bound (anonymous without a bindDN). */
  static async open(settings: ConnectionSettings, log?: DirectoryLogger): Promise<BulkConnection> {
    beforeConnect(settings, log);
    let connection: BulkConnection | undefined;
    try {
      connection = new BulkConnection(await connect(settings), settings);
      if (settings.startTLS) await connection.startTLS();
      if (settings.bindDN && settings.password) {
        const response = await connection.request(
          new BindRequest({
            messageId: connection.nextId(),
            dn: settings.bindDN,
            password: settings.password,
          }),
        );
        check(parse<{ status: number }>(response.bytes));
      }
    } catch (err) {
      connection?.destroy();
      throw explainError(err, settings, bindAction(settings));
    }
    log?.info(
      { connection: settings.name, url: settings.url, bindDN: settings.bindDN, tls: transport(settings) },
      'directory connected',
    );
    return connection;
  }

  /**
   * The pages of a paged search (RFC 2696), each as its entries' raw LDAPMessage bytes (views of
   * the socket's chunks); empty pages are skipped. The next page is asked for before this one is
   * handed on, so the server works while the caller does.
   */
  async *pages(
    opts: Pick<SearchPagesOptions, 'baseDN' | 'scope' | 'filter' | 'attributes'>,
  ): AsyncGenerator<Buffer[]> {
    const action = `search under ${opts.baseDN}`;
    const filter = typeof opts.filter === 'string' ? parseFilter(opts.filter) : opts.filter;
    const attributes = requestedAttributes(opts.attributes, undefined);
    const ask = (cookie: Buffer | undefined): Promise<Response> => {
      const control = new PagedResultsControl({
        value: { size: this.settings.pageSize, ...(cookie ? { cookie } : {}) },
      });
      const sent = this.request(
        new SearchRequest({
          messageId: this.nextId(),
          baseDN: opts.baseDN,
          scope: opts.scope,
          filter,
          attributes,
          sizeLimit: 0,
          timeLimit: 0,
          controls: [control],
        }),
      );
      // Failures are rethrown where the page is awaited; meanwhile they must not count as unhandled.
      sent.catch(() => {});
      return sent;
    };
    try {
      let ahead: Promise<Response> | undefined = ask(undefined);
      let empty = 0;
      while (ahead) {
        const done: Response = await ahead;
        const result: { status: number; controls?: unknown[] } = parse(done.bytes);
        check(result);
        const paged = result.controls?.find(
          (c): c is PagedResultsControl => c instanceof PagedResultsControl,
        );
        const cookie: Buffer | undefined = paged?.value?.cookie;
        // The search goes on while the server gives a cookie, even after a page that brought
        // nothing (Active Directory sends such pages when a page's time runs out; ldapts stops
        // there, which would leave the rest of the scope out of the plan as "no entry"). A server
        // that sends nothing but empty pages with cookies is not paging: it is refused.
        empty = done.entries.length || done.references ? 0 : empty + 1;
        if (empty > MAX_EMPTY_PAGES)
          throw new DirectoryError(`the directory sent ${empty} pages in a row without entries`);
        ahead = cookie?.length ? ask(cookie) : undefined;
        if (done.entries.length) yield done.entries;
      }
    } catch (err) {
      throw explainError(err, this.settings, action);
    }
  }

  /** Ends the connection at once: what waits for an answer rejects (the read was stopped). */
  abort(): void {
    this.destroy();
  }

  /** Unbinds and closes; never fails. */
  async close(): Promise<void> {
    if (this.closed) return;
    const socket = this.socket;
    if (!socket.destroyed) {
      await new Promise<void>((resolve) => {
        socket.write(new UnbindRequest({ messageId: this.nextId() }).write(), () => resolve());
        setTimeout(resolve, 1000).unref();
      });
    }
    this.destroy();
  }

  private destroy(): void {
    this.closed = true;
    this.socket.destroy();
  }

  private nextId(): number {
    return ++this.lastId;
  }

  private listen(socket: net.Socket): void {
    this.framer = new MessageFramer((m) => this.received(m));
    socket.on('data', (chunk: Buffer) => {
      try {
        this.framer.push(chunk);
      } catch (err) {
        // A stream we cannot cut into messages cannot go on.
        this.fail(err as Error);
        socket.destroy();
      }
    });
    socket.on('error', (err) => this.fail(new Error(`Socket error: ${err.message}`)));
    socket.on('close', () => this.fail(new Error('Connection closed before message response was received')));
  }

  private received(m: Framed): void {
    const w = this.waiting;
    // Message ID 0 is a notice of disconnection; the close that follows ends what waits.
    if (!w || m.messageId !== w.id) return;
    if (m.op === OP.searchResultEntry) w.entries.push(m.bytes);
    else if (m.op === OP.searchResultReference) w.references = true;
    else {
      this.waiting = undefined;
      clearTimeout(w.timer);
      w.resolve(m);
    }
  }

  private fail(err: Error): void {
    const w = this.waiting;
    this.waiting = undefined;
    if (!w) return;
    clearTimeout(w.timer);
    w.reject(err);
  }

  /** Sends a request and resolves with its final response (entries of a search gathered on the way). */
  private request(message: Request): Promise<Response> {
    if (this.closed || this.socket.destroyed) {
      return Promise.reject(new Error('Connection closed before message response was received'));
    }
    if (this.waiting) throw new Error('bulk-search: one request at a time');
    return new Promise((resolve, reject) => {
      const w: Waiting = {
        id: message.messageId,
        resolve: (m) => resolve({ ...m, entries: w.entries, references: w.references }),
        reject,
        entries: [],
        references: false,
      };
      // ldapts' per-operation timeout, with its wording: explainError knows it.
      if (this.settings.timeoutMs) {
        w.timer = setTimeout(() => {
          this.fail(new Error(`${message.constructor.name}: Operation timed out`));
          this.socket.destroy();
        }, this.settings.timeoutMs);
      }
      this.waiting = w;
      this.socket.write(message.write());
    });
  }

  private async startTLS(): Promise<void> {
    const response = await this.request(new ExtendedRequest({ messageId: this.nextId(), oid: START_TLS }));
    try {
      check(parse<{ status: number }>(response.bytes));
    } catch (err) {
      throw err instanceof ResultCodeError ? refusedStartTLS(err, this.settings) : err;
    }
    const plain = this.socket;
    plain.removeAllListeners('data');
    plain.removeAllListeners('close');
    plain.removeAllListeners('error');
    // An error of the plain socket under TLS is the TLS socket's too; it must not go unhandled.
    plain.on('error', () => {});
    this.socket = await handshake(
      (ready) => tls.connect({ ...tlsOptions(this.settings, true), socket: plain }, ready),
      this.settings,
    );
    this.listen(this.socket);
  }
}

function hostAndPort(url: string): { host: string; port: number } {
  const u = new URL(url);
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1') || 'localhost';
  return { host, port: u.port ? Number(u.port) : u.protocol === 'ldaps:' ? 636 : 389 };
}

/** A socket once connected (and TLS established), within timeoutMs: ldapts' connectTimeout. */
function handshake(
  start: (ready: () => void) => net.Socket,
  settings: ConnectionSettings,
): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = start(() => {
      clearTimeout(timer);
      resolve(socket);
    });
    const timer = settings.timeoutMs
      ? setTimeout(() => {
          socket.destroy();
          reject(new Error('Connection timeout'));
        }, settings.timeoutMs)
      : undefined;
    // Stays on: an error once connected is also the connection's (BulkConnection.listen), and
    // rejecting a settled promise does nothing.
    socket.on('error', (err) => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    });
  });
}

function connect(settings: ConnectionSettings): Promise<net.Socket> {
  const { host, port } = hostAndPort(settings.url);
  return transport(settings) === 'ldaps'
    ? handshake((ready) => tls.connect(port, host, tlsOptions(settings, false), ready), settings)
    : handshake((ready) => net.connect(port, host, ready), settings);
}

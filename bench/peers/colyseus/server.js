// Colyseus side of the chat fan-out peer comparison (see README.md, "Peer: Colyseus").
//
// One process, one room type "chat", no state. A "chat" message from a member is broadcast to
// every member of the room (the sender included, as Maratang does) with the sender's id and
// nickname and the server time, and the sender gets an "ack" carrying the id it sent: the
// counterpart of Maratang's reply envelope, so both servers send S + 1 messages per chat.
//
//   NODE_ENV=production node server.js [PORT [PORT_FILE]]
'use strict';

const { Server, Room } = require('@colyseus/core');
const { WebSocketTransport } = require('@colyseus/ws-transport');

class ChatRoom extends Room {
  onCreate(options) {
    this.maxClients = Math.max(1, Math.min(1000, Number(options.maxClients) || 8));
    this.autoDispose = true;
    this.onMessage('chat', (client, message) => {
      const text = message && typeof message.text === 'string' ? message.text : '';
      if (text.length === 0 || text.length > 500) return;
      this.broadcast('chat', {
        from: client.sessionId,
        nickname: client.userData && client.userData.nickname,
        text,
        ts: Date.now(),
      });
      client.send('ack', message.id);
    });
  }

  onJoin(client, options) {
    client.userData = { nickname: String((options && options.nickname) || client.sessionId) };
  }
}

async function main() {
  const port = Number(process.argv[2] || 0); // 0: any free port, written to PORT_FILE
  const portFile = process.argv[3];
  const server = new Server({
    transport: new WebSocketTransport(),
    greet: false,
  });
  server.define('chat', ChatRoom);
  await server.listen(port, '127.0.0.1');
  const bound = server.transport.server.address().port;
  if (portFile) require('fs').writeFileSync(portFile, String(bound));
  else console.log(`colyseus listening on 127.0.0.1:${bound}`);
  // SIGTERM / SIGINT: Colyseus's own graceful shutdown (gracefullyShutdown defaults to true).
}

main().catch((e) => {
  console.error('colyseus server failed:', e);
  process.exit(1);
});

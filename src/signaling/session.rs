//! One connection to the server: the join (or resume), then server messages in and our
//! commands out until it ends. What outlives it is in [`Carried`].

use std::collections::VecDeque;

use futures_util::{SinkExt, StreamExt};
use termmeet_signaling::protocol::{ClientMessage, ServerMessage};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

use super::{Carried, Command, Ended, JoinParams, SignalingEvent, Socket, SILENCE_LIMIT};

/// What one read from the socket gave, the silence limit included.
type Read = Result<
    Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
    tokio::time::error::Elapsed,
>;

/// One connection: join (or resume), then pump messages until it ends.
pub(super) async fn session(
    params: &JoinParams,
    socket: Socket,
    commands: &mut mpsc::UnboundedReceiver<Command>,
    events: &mpsc::UnboundedSender<SignalingEvent>,
    carried: &mut Carried,
) -> Result<Ended, String> {
    let mut session = Session {
        socket,
        events,
        carried,
        joined: false,
    };
    let join = ClientMessage::Join {
        room: params.room.clone(),
        name: params.name.clone(),
        secret: params.secret.clone(),
        token: params.token.clone(),
        resume: session.carried.resume_token.clone(),
        client: Some(concat!("termmeet/", env!("CARGO_PKG_VERSION")).into()),
        sfu: !params.end_to_end,
    };
    session
        .socket
        .send(Message::Text(join.to_json().into()))
        .await
        .map_err(|e| e.to_string())?;
    loop {
        let ended = tokio::select! {
            frame = tokio::time::timeout(SILENCE_LIMIT, session.socket.next()) => {
                session.on_read(frame).await
            }
            command = commands.recv() => session.on_command(command).await.map(Ok),
        };
        if let Some(ended) = ended {
            return ended;
        }
    }
}

/// One connection while it lasts.
struct Session<'a> {
    /// The WebSocket to the server.
    socket: Socket,
    /// Where the client's events go.
    events: &'a mpsc::UnboundedSender<SignalingEvent>,
    /// What outlives this connection.
    carried: &'a mut Carried,
    /// Whether the server answered our join with `peers`.
    joined: bool,
}

impl Session<'_> {
    /// Handles one read from the server; `Some` ends the connection.
    async fn on_read(&mut self, frame: Read) -> Option<Result<Ended, String>> {
        let frame = match frame {
            Err(_) => return Some(Ok(Ended::Lost)),
            Ok(None) => return Some(Ok(Ended::Lost)),
            Ok(Some(Err(e))) => return Some(Err(e.to_string())),
            Ok(Some(Ok(f))) => f,
        };
        let text = match frame {
            Message::Text(t) => t,
            Message::Close(frame) => {
                let code = frame.map(|f| u16::from(f.code)).unwrap_or(1005);
                return Some(Ok(Ended::Closed(code)));
            }
            _ => return None,
        };
        let message = match ServerMessage::parse(text.as_str()) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!("ignoring a server message that does not parse: {e}");
                return None;
            }
        };
        self.on_message(message).await.map(Ok)
    }

    /// Handles one server message: `peers` joins us, our own chat coming back confirms it,
    /// an error refusing the join stops the client, and everything goes on as an event.
    async fn on_message(&mut self, message: ServerMessage) -> Option<Ended> {
        if matches!(message, ServerMessage::Peers { .. }) {
            return self.on_joined(message).await;
        }
        if let ServerMessage::Chat(m) = &message {
            if self.carried.me.as_deref() == Some(m.from.as_str()) {
                self.carried.unconfirmed.confirmed(&m.text);
            }
        }
        if let ServerMessage::Error {
            code,
            message: text,
            ..
        } = &message
        {
            if !self.joined && refuses_the_join(*code) {
                let _ = self.events.send(SignalingEvent::Stopped {
                    reason: format!("{code}: {text}"),
                });
                let _ = self.socket.close(None).await;
                return Some(Ended::Left);
            }
        }
        if self.events.send(SignalingEvent::Message(message)).is_err() {
            return Some(Ended::Left);
        }
        None
    }

    /// `peers`: joined (or resumed). Keeps the resume token and our id, then sends the chat
    /// the room's history lacks and what was queued.
    async fn on_joined(&mut self, message: ServerMessage) -> Option<Ended> {
        let ServerMessage::Peers {
            resume_token: token,
            resume_failed,
            you,
            chat_history,
            ..
        } = &message
        else {
            return None;
        };
        let carried = &mut *self.carried;
        let resumed = carried.resume_token.is_some() && !resume_failed;
        carried.resume_token = Some(token.clone());
        let lost = carried
            .unconfirmed
            .lost(chat_history, &you.id, carried.me.as_deref());
        carried.me = Some(you.id.clone());
        self.joined = true;
        carried.backoff.reset();
        let queued = carried.queue.len();
        let _ = self.events.send(SignalingEvent::Connected { resumed });
        let _ = self.events.send(SignalingEvent::Message(message));
        tracing::debug!(resumed, queued, lost = lost.len(), "joined");
        if !lost.is_empty() {
            tracing::info!(
                "sending {} chat message(s) again that the server never got",
                lost.len()
            );
        }
        let again = lost.into_iter().map(|text| ClientMessage::Chat { text });
        let outgoing: VecDeque<ClientMessage> = again.chain(self.carried.queue.drain()).collect();
        self.send_all(outgoing).await
    }

    /// Sends messages in order; if the connection fails, what was not sent waits for the next
    /// one and the connection ends.
    async fn send_all(&mut self, mut outgoing: VecDeque<ClientMessage>) -> Option<Ended> {
        while let Some(m) = outgoing.pop_front() {
            if self.send(m).await.is_err() {
                for rest in outgoing {
                    self.carried.queue.push(rest);
                }
                return Some(Ended::Lost);
            }
        }
        None
    }

    /// Sends one message, remembering chat until the room relays it back; a message that
    /// could not be sent is queued for the next connection.
    async fn send(&mut self, m: ClientMessage) -> Result<(), ()> {
        if self
            .socket
            .send(Message::Text(m.to_json().into()))
            .await
            .is_err()
        {
            self.carried.queue.push(m);
            return Err(());
        }
        if let ClientMessage::Chat { text } = &m {
            self.carried.unconfirmed.sent(text);
        }
        Ok(())
    }

    /// Handles one command of ours: sent once joined, queued while joining; a leave (or
    /// the client dropped) says goodbye and ends the connection.
    async fn on_command(&mut self, command: Option<Command>) -> Option<Ended> {
        match command {
            Some(Command::Send(m)) if self.joined => self.send(m).await.err().map(|()| Ended::Lost),
            Some(Command::Send(m)) => {
                tracing::debug!("queued while joining");
                self.carried.queue.push(m);
                None
            }
            Some(Command::Leave) | None => {
                let leave = ClientMessage::Leave {}.to_json();
                let _ = self.socket.send(Message::Text(leave.into())).await;
                let close = tokio_tungstenite::tungstenite::protocol::CloseFrame {
                    code: CloseCode::Normal,
                    reason: "left".into(),
                };
                let _ = self.socket.close(Some(close)).await;
                Some(Ended::Left)
            }
        }
    }
}

/// Errors that refuse our join for a reason that trying again would not change.
fn refuses_the_join(code: termmeet_signaling::protocol::ErrorCode) -> bool {
    use termmeet_signaling::protocol::ErrorCode;
    matches!(
        code,
        ErrorCode::BadSecret
            | ErrorCode::RoomFull
            | ErrorCode::BadField
            | ErrorCode::BadToken
            | ErrorCode::TokenExpired
            | ErrorCode::TooManyConnections
    )
}

#include "reactor/protocols.h"

namespace reactor {

void EchoHandler::onMessage(Connection& conn, Buffer& input) { conn.send(input); }

}  // namespace reactor

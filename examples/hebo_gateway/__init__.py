"""hebo-gateway's conversation storage, written once on no-orm's public API.

No SQL and nothing backend-specific: the same code runs on every certified adapter.
"""

from .async_storage import AsyncConversationStorage
from .models import SCHEMA, ConversationRow, ItemRow, conversation_items, conversations
from .storage import Conversation, ConversationStorage, Item, NewItem

__all__ = [
    "SCHEMA",
    "AsyncConversationStorage",
    "Conversation",
    "ConversationRow",
    "ConversationStorage",
    "Item",
    "ItemRow",
    "NewItem",
    "conversation_items",
    "conversations",
]

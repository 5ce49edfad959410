DROP TABLE notification_dismissals;
DROP TABLE notifications;
DROP TABLE files;

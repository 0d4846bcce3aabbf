"""twin/apps"""
